// printf-style formatting: the same output as util.format wherever util.format's output is plain
// data, placeholders without arguments left as written, and no throw on hostile values.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { format } from 'node:util';
import {
  compileTemplate,
  countPlaceholders,
  formatCompiled,
  formatMessage,
} from '../../src/logging/format.js';

function both(template: string, ...args: unknown[]): string {
  const direct = formatMessage(template, args, args.length);
  assert.equal(formatCompiled(compileTemplate(template), args, args.length), direct, 'compiled = direct');
  return direct;
}

describe('printf formatting', () => {
  it('matches util.format for primitive arguments', () => {
    const cases: [string, ...unknown[]][] = [
      ['%s rows', 'many'],
      ['%s|%s|%s|%s', 1, -0, true, undefined],
      ['%d %d %d %d', 42, '42', 4.5, 7n],
      ['%i %i %i', 42.9, '-3.7', 9n],
      ['%f %f', '1.25', 3],
      ['%j', { a: [1, 'x'] }],
      ['%j', 'str'],
      ['100%% of %s', 'rows'],
      ['%% %s %%', 'x'],
      ['trailing %', 1],
      ['%x unknown %s', 'kept'],
      ['%s and %s', 'only one'],
      ['no placeholders', 'a', 1, true],
      ['%c%s', 'color: red', 'styled'],
      ['%s', null],
    ];
    for (const [template, ...args] of cases) {
      assert.equal(
        both(template, ...args),
        format(template, ...args),
        `${template} ${JSON.stringify(args, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`,
      );
    }
  });

  it('formats %o and %O with inspect, on one line', () => {
    assert.equal(both('%O', { a: { b: 1 } }), '{ a: { b: 1 } }');
    assert.equal(both('%o', [1]), '[ 1, [length]: 1 ]');
  });

  it('renders objects and errors in %s and extra arguments as data', () => {
    assert.equal(both('%s', { a: 1 }), '{"a":1}');
    assert.equal(both('%s', [1, 2]), '[1,2]');
    assert.equal(both('failed', new TypeError('bad')), 'failed TypeError: bad');
    assert.equal(both('at %s', new Date(0)), `at ${new Date(0).toString()}`);
    assert.equal(both('%s', Symbol('s')), 'Symbol(s)');
    assert.equal(both('x', 10n), 'x 10n');
  });

  it('survives cycles, BigInt in %j and throwing conversions', () => {
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    const hostile = {
      toString() {
        throw new Error('no');
      },
      toJSON() {
        throw new Error('no');
      },
    };
    assert.equal(both('%j', cyclic), '{"n":1,"self":"[Circular]"}');
    assert.equal(both('%j', { big: 1n }), '{"big":"1"}');
    assert.equal(both('%s', hostile), '[Unserializable]');
    assert.equal(both('%d', hostile), 'NaN');
    assert.equal(
      both('%j', () => 1),
      'undefined',
    );
  });

  it('counts placeholders, not %%', () => {
    assert.equal(countPlaceholders('%s %d %% %j %o %O %i %f %c %x'), 8);
    assert.equal(countPlaceholders('none'), 0);
    assert.equal(countPlaceholders('%'), 0);
    assert.equal(compileTemplate('%s %d %% x').specifiers.length, 2);
  });

  it('checks a template for NUL and lone surrogates once', () => {
    assert.equal(compileTemplate('ok %s').clean, true);
    assert.equal(compileTemplate('bad\0 %s').clean, false);
    assert.equal(compileTemplate('bad\ud800 %s').clean, false);
  });
});
