const LINES = Array.from({ length: 256 }, (_, i) => JSON.stringify({ id: i, user: `user-${i}`, ts: 1764500000000 + i, amount: i * 1.25, tags: ['a', 'b', `t${i % 7}`], country: ['DE', 'FR', 'US'][i % 3], items: Array.from({ length: 6 }, (_, k) => ({ sku: `sku-${k}`, qty: k + 1, price: 2.5 * k })) }));
export function transformRecord(item: number): number {
  const row = JSON.parse(LINES[item & 255]!);
  let total = 0;
  for (const line of row.items) total += line.qty * line.price;
  const key = `${row.country}:${row.user}`.toLowerCase();
  return total + key.length + row.tags.length;
}
const s = performance.now(); let acc = 0; for (let i = 0; i < 200000; i++) acc += transformRecord(i); console.log(((performance.now() - s) / 200000 * 1000).toFixed(2), 'µs/item', acc);
