import { isMap, isSeq, isScalar, type Document, type LineCounter, type Node } from 'yaml';

/**
 * Finds where a key path sits in a parsed YAML document. Returns the position of the deepest
 * node that exists on the path (so a missing key points at its parent mapping), or of the key
 * itself when `atKey` is set (unknown keys).
 */
export function locate(
  doc: Document,
  lineCounter: LineCounter,
  segments: ReadonlyArray<string | number>,
  atKey: boolean,
): { line: number; column: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (!pair) break;
      const key = pair.key as Node | null;
      if (last && atKey && key?.range) {
        offset = key.range[0];
        break;
      }
      node = pair.value;
      const value = pair.value as Node | null;
      offset = value?.range?.[0] ?? key?.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}
