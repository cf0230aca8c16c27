// Helm's `--set` parser (helm.sh/helm/v3/pkg/strvals, ParseInto), ported rule for rule so that
// `launch-agent render --set ...` reads a set line exactly as `helm template --set ...` does:
//   a.b=c          nested keys            a[0]=x, a[1].b=y   list indexes
//   a=1,b=true     pairs, typed values    a={x,y}            a list
//   a\.b=c, a=x\,y escaped separators     a=null             null (deletes a chart default)
// Values are typed like Helm: true/false/null (any case), integers without a leading 0, else strings.

import { redactText } from '../redact/redact-secrets.js';
import type { Values } from './values.js';

/** Helm's limits (strvals.MaxIndex, strvals.MaxNestedNameLevel). */
const MAX_INDEX = 65536;
const MAX_NESTED_NAME_LEVEL = 30;

class SetParseError extends Error {}

const EOF = Symbol('EOF');
type Rune = string | typeof EOF;

class RuneReader {
  private readonly runes: string[];
  private position = 0;

  constructor(text: string) {
    this.runes = Array.from(text);
  }

  read(): Rune {
    if (this.position >= this.runes.length) {
      this.position = this.runes.length + 1;
      return EOF;
    }
    return this.runes[this.position++] as string;
  }

  unread(): void {
    this.position = Math.min(this.position, this.runes.length) - 1;
  }
}

interface Until {
  text: string;
  last: Rune;
}

/** Reads up to (and consuming) one of `stop`; a backslash takes the next rune literally. */
function runesUntil(reader: RuneReader, stop: string): Until {
  let text = '';
  for (;;) {
    const r = reader.read();
    if (r === EOF) return { text, last: EOF };
    if (stop.includes(r)) return { text, last: r };
    if (r === '\\') {
      const next = reader.read();
      if (next === EOF) return { text, last: EOF };
      text += next;
    } else {
      text += r;
    }
  }
}

function isMap(value: unknown): value is Values {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** strvals.typedVal: Helm's type inference for --set values. */
export function typedValue(text: string): unknown {
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (lower === 'null') return null;
  if (text === '0') return 0;
  if (text.length > 0 && text[0] !== '0' && /^[+-]?[0-9]+$/.test(text)) {
    const big = BigInt(text);
    // strconv.ParseInt(val, 10, 64): out of int64 range stays a string.
    if (big < -(2n ** 63n) || big > 2n ** 63n - 1n) return text;
    if (big < BigInt(Number.MIN_SAFE_INTEGER) || big > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new SetParseError(
        `integer ${text} is beyond what JavaScript represents exactly (2^53); quote it in a values file instead`,
      );
    }
    return Number(big);
  }
  return text;
}

function set(data: Values, key: string, value: unknown): void {
  if (key.length === 0) return;
  data[key] = value;
}

function setIndex(list: unknown[], index: number, value: unknown): unknown[] {
  if (index < 0) throw new SetParseError(`negative ${index} index not allowed`);
  if (index > MAX_INDEX) {
    throw new SetParseError(
      `index of ${index} is greater than maximum supported index of ${MAX_INDEX}`,
    );
  }
  while (list.length <= index) list.push(null);
  list[index] = value;
  return list;
}

/** Go's strconv.Atoi, as strvals uses it for list indexes. */
function atoi(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) {
    throw new SetParseError(
      `error parsing index: strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`,
    );
  }
  return Number(text);
}

type Step = 'more' | 'eof';

class SetLineParser {
  constructor(private readonly reader: RuneReader) {}

  parse(data: Values): void {
    while (this.key(data, 0) === 'more');
  }

  private key(data: Values, nestedNameLevel: number): Step {
    const { text: k, last } = runesUntil(this.reader, '=[,.');
    if (last === EOF) {
      if (k.length === 0) return 'eof';
      throw new SetParseError(`key ${JSON.stringify(k)} has no value`);
    }
    if (last === '[') {
      const index = this.keyIndex();
      let list: unknown[] = [];
      if (k in data) {
        const existing = data[k];
        if (!Array.isArray(existing)) {
          throw new SetParseError(`unable to parse key: ${JSON.stringify(k)} is not a list`);
        }
        list = existing;
      }
      const [updated, step] = this.listItem(list, index, nestedNameLevel);
      set(data, k, updated);
      return step;
    }
    if (last === '=') {
      const listValue = this.valueList();
      if (listValue === EOF) {
        set(data, k, '');
        return 'eof';
      }
      if (listValue !== null) {
        set(data, k, listValue);
        return 'more';
      }
      set(data, k, typedValue(this.value()));
      return 'more';
    }
    if (last === ',') {
      throw new SetParseError(`key ${JSON.stringify(k)} has no value (cannot end with ,)`);
    }
    // last === '.'
    const level = nestedNameLevel + 1;
    if (level > MAX_NESTED_NAME_LEVEL) {
      throw new SetParseError(
        `value name nested level is greater than maximum supported nested level of ${MAX_NESTED_NAME_LEVEL}`,
      );
    }
    let inner: Values = {};
    if (k in data) {
      const existing = data[k];
      if (!isMap(existing)) {
        throw new SetParseError(`unable to parse key: ${JSON.stringify(k)} is not a map`);
      }
      inner = existing;
    }
    const step = this.key(inner, level);
    if (step === 'more' && Object.keys(inner).length === 0) {
      throw new SetParseError(`key map ${JSON.stringify(k)} has no value`);
    }
    if (Object.keys(inner).length !== 0) set(data, k, inner);
    return step;
  }

  private keyIndex(): number {
    const { text, last } = runesUntil(this.reader, ']');
    if (last === EOF) throw new SetParseError('error parsing index: unexpected end of set line');
    return atoi(text);
  }

  private listItem(list: unknown[], i: number, nestedNameLevel: number): [unknown[], Step] {
    if (i < 0) throw new SetParseError(`negative ${i} index not allowed`);
    const { text, last } = runesUntil(this.reader, '[.=');
    if (text.length > 0) {
      throw new SetParseError(`unexpected data at end of array index: ${JSON.stringify(text)}`);
    }
    if (last === EOF) return [list, 'eof'];
    if (last === '=') {
      const listValue = this.valueList();
      if (listValue === EOF) return [setIndex(list, i, ''), 'more'];
      if (listValue !== null) return [setIndex(list, i, listValue), 'more'];
      return [setIndex(list, i, typedValue(this.value())), 'more'];
    }
    if (last === '[') {
      const nextIndex = this.keyIndex();
      let current: unknown[] = [];
      if (list.length > i && list[i] !== null && list[i] !== undefined) {
        if (!Array.isArray(list[i])) {
          throw new SetParseError(`unable to parse key: index ${i} is not a list`);
        }
        current = list[i] as unknown[];
      }
      const [nested, step] = this.listItem(current, nextIndex, nestedNameLevel);
      if (step === 'eof') return [list, 'eof'];
      return [setIndex(list, i, nested), 'more'];
    }
    // last === '.'
    let inner: Values = {};
    if (list.length > i) {
      if (isMap(list[i])) inner = list[i] as Values;
      else list[i] = inner;
    }
    const step = this.key(inner, nestedNameLevel);
    if (step === 'eof') return [list, 'eof'];
    return [setIndex(list, i, inner), 'more'];
  }

  /** `{a,b}` after '=': the list; null when the value is not a list; EOF on an empty value. */
  private valueList(): unknown[] | null | typeof EOF {
    const first = this.reader.read();
    if (first === EOF) return EOF;
    if (first !== '{') {
      this.reader.unread();
      return null;
    }
    const list: unknown[] = [];
    for (;;) {
      const { text, last } = runesUntil(this.reader, ',}');
      if (last === EOF) throw new SetParseError("list must terminate with '}'");
      if (last === '}') {
        const next = this.reader.read();
        if (next !== EOF && next !== ',') this.reader.unread();
        list.push(typedValue(text));
        return list;
      }
      list.push(typedValue(text));
    }
  }

  private value(): string {
    return runesUntil(this.reader, ',').text;
  }
}

/**
 * Applies one `--set` line to `dest` the way Helm's strvals.ParseInto does (dest is modified).
 * Throws an Error whose message starts with `--set "<line>":`.
 */
export function applySetLine(line: string, dest: Values): void {
  try {
    new SetLineParser(new RuneReader(line)).parse(dest);
  } catch (error) {
    if (error instanceof SetParseError) {
      throw new Error(`--set ${JSON.stringify(redactText(line))}: ${redactText(error.message)}`, {
        cause: error,
      });
    }
    throw error;
  }
}
