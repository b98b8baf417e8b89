// How long the console's task list and cluster page take to render in
// Debian's chromium, for `ferry-bench console`: for each page, the time from
// navigation to the page's main table being in the document, `ROUNDS`
// times. Prints one JSON object of millisecond samples on stdout.
//
// Usage: node render.mjs URL TOKEN CLUSTER_ID ROUNDS

import { chromium } from 'playwright-core';

const [url, token, cluster, rounds] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking'],
});
const context = await browser.newContext();
// Signed in before any page runs: the console keeps its token here.
await context.addInitScript((t) => sessionStorage.setItem('ferry.token', t), token);
const page = await context.newPage();
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

const pages = {
  tasks: { hash: '#/tasks', ready: () => page.getByRole('table', { name: /^Tasks, page 1 of/ }) },
  cluster: { hash: `#/clusters/${cluster}`, ready: () => page.getByRole('table', { name: /^Topics \(/ }) },
};
const samples = { tasks: [], cluster: [] };
for (let round = 0; round < Number(rounds); round++) {
  for (const [name, { hash, ready }] of Object.entries(pages)) {
    // A blank page between measurements, so each starts from a load.
    await page.goto('about:blank');
    const started = Date.now();
    await page.goto(`${url}/${hash}`);
    await ready().waitFor({ timeout: 30000 });
    samples[name].push(Date.now() - started);
  }
}
await browser.close();
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
console.log(JSON.stringify(samples));
