// Helm's --set semantics (pkg/strvals). Expected results are what `helm template --set` gives;
// the cases follow Helm's own parser_test.go.
import { applySetLine, typedValue } from '../src/render/strvals.js';

function parse(line: string, into: Record<string, unknown> = {}): Record<string, unknown> {
  applySetLine(line, into);
  return into;
}

describe('applySetLine (helm --set)', () => {
  test.each([
    ['name=value', { name: 'value' }],
    ['long_int_string=1234567890', { long_int_string: 1234567890 }],
    ['boolean=true', { boolean: true }],
    ['is_null=null', { is_null: null }],
    ['zero=0', { zero: 0 }],
    ['leading_zeros=00009', { leading_zeros: '00009' }],
    ['negative=-5', { negative: -5 }],
    ['name=value,foo=bar', { name: 'value', foo: 'bar' }],
    ['name=value,foo=', { name: 'value', foo: '' }],
    ['name=', { name: '' }],
    ['name=value,', { name: 'value' }],
    ['outer.inner=value', { outer: { inner: 'value' } }],
    ['outer.middle.inner=value', { outer: { middle: { inner: 'value' } } }],
    ['outer.inner1=value,outer.inner2=value2', { outer: { inner1: 'value', inner2: 'value2' } }],
    ['name1.name2=value1\\,value2', { name1: { name2: 'value1,value2' } }],
    ['name1\\.name2=value', { 'name1.name2': 'value' }],
    ['name1=one\\=two', { name1: 'one=two' }],
    ['list={a,b,c}', { list: ['a', 'b', 'c'] }],
    ['list={1,true,x}', { list: [1, true, 'x'] }],
    ['list[0]=foo', { list: ['foo'] }],
    ['list[0].foo=bar', { list: [{ foo: 'bar' }] }],
    ['list[0].foo=bar,list[0].hello=world', { list: [{ foo: 'bar', hello: 'world' }] }],
    ['list[2]=c', { list: [null, null, 'c'] }],
    ['list[0]=a,list[1]=b', { list: ['a', 'b'] }],
    ['nested[0][1]=1', { nested: [[null, 1]] }],
    ['a.b[0].c[1]=x', { a: { b: [{ c: [null, 'x'] }] } }],
    ['agentConfig.builder.type=kaniko', { agentConfig: { builder: { type: 'kaniko' } } }],
    [
      'agentConfig.builder.build-context-store=s3://bucket/path',
      { agentConfig: { builder: { 'build-context-store': 's3://bucket/path' } } },
    ],
    ['podAnnotations.example\\.com/team=ml', { podAnnotations: { 'example.com/team': 'ml' } }],
  ])('%s', (line, expected) => {
    expect(parse(line)).toEqual(expected);
  });

  test('merges into existing values: maps merge, indexes update the existing list', () => {
    const dest = { a: { keep: 1, change: 2 }, list: ['x', 'y'] };
    expect(parse('a.change=3,list[1]=z', dest)).toEqual({
      a: { keep: 1, change: 3 },
      list: ['x', 'z'],
    });
  });

  test('a later --set line replaces a list given by an earlier one', () => {
    const dest = parse('list={a,b,c}');
    expect(parse('list={d}', dest)).toEqual({ list: ['d'] });
  });

  test.each([
    ['name', 'key "name" has no value'],
    ['name,foo=bar', 'key "name" has no value (cannot end with ,)'],
    ['list={a,b', "list must terminate with '}'"],
    ['list[-1]=x', 'negative -1 index not allowed'],
    ['list[x]=y', 'invalid syntax'],
    ['list[70000]=y', 'greater than maximum supported index of 65536'],
    ['list[0]a=y', 'unexpected data at end of array index: "a"'],
  ])('rejects %s', (line, message) => {
    expect(() => parse(line)).toThrow(message);
  });

  test('errors name the --set line', () => {
    expect(() => parse('broken')).toThrow('--set "broken": key "broken" has no value');
  });

  test('refuses to index into a value that is not a list, or descend into one that is not a map', () => {
    expect(() => parse('a[0]=x', { a: 'scalar' })).toThrow('"a" is not a list');
    expect(() => parse('a.b=x', { a: 'scalar' })).toThrow('"a" is not a map');
  });
});

describe('typedValue (strvals.typedVal)', () => {
  test.each([
    ['true', true],
    ['TRUE', true],
    ['False', false],
    ['NULL', null],
    ['0', 0],
    ['007', '007'],
    ['+12', 12],
    ['1.5', '1.5'],
    ['1e3', '1e3'],
    ['9223372036854775808', '9223372036854775808'],
    ['', ''],
    ['yes', 'yes'],
  ])('%s', (text, expected) => {
    expect(typedValue(text)).toEqual(expected);
  });

  test('refuses integers JavaScript cannot hold exactly instead of rounding them', () => {
    expect(() => typedValue('9007199254740993')).toThrow(
      'beyond what JavaScript represents exactly',
    );
  });
});
