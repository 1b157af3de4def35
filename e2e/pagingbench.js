// Times one cold request for a deep page (no page before it was served),
// then the telnyx SDK's auto-pager over every room of a roomsd:
// `for await (const room of client.rooms.list())`, with the time of each
// block of 20,000 rooms. Used by
// scripts/pagingbench.sh; prints one JSON object.
//
//   node pagingbench.js BASE_URL API_KEY [DEEP_PAGE]
import Telnyx from 'telnyx';

const [baseURL, apiKey, deepPage = '5000'] = process.argv.slice(2);
const client = new Telnyx({ apiKey, baseURL, maxRetries: 0, timeout: 600_000 });

const t0 = performance.now();
await client.rooms.list({ 'page[number]': Number(deepPage), 'page[size]': 20 });
const deep = Math.round(performance.now() - t0);

const blocks = [];
let n = 0;
const start = performance.now();
let blockStart = start;
for await (const room of client.rooms.list()) {
  n++;
  if (room === undefined) throw new Error('no room');
  if (n % 20_000 === 0) {
    const now = performance.now();
    blocks.push(Math.round(now - blockStart));
    blockStart = now;
  }
}
const total = Math.round(performance.now() - start);
console.log(JSON.stringify({ rooms: n, total_ms: total, block_ms: blocks, first_block_ms: blocks[0], last_block_ms: blocks.at(-1), [`cold_page_${deepPage}_ms`]: deep }));
