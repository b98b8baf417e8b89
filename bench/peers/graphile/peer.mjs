// graphile-worker as a peer of ferry's task queue in `ferry-bench tasks --peers`.
//
// One invocation does one thing to the database named by --url and prints one
// JSON line on stdout; `ferry-bench` starts it, reads that line and times
// nothing itself, so that the Node.js start-up is never part of a figure.
//
//   node peer.mjs prepare --url URL --n N        schema, plus N queued jobs (untimed)
//   node peer.mjs submit-single --url URL --n N  16 clients, one addJob per call
//   node peer.mjs submit-bulk --url URL --n N    one addJobs call of N jobs
//   node peer.mjs drain --url URL [--batched]    run queued no-op jobs until stdin closes
//
// `drain` prints {"ready":true} once it is connected, starts its runner when a
// line arrives on stdin (so that several processes start together), and when
// stdin closes stops the runner and prints the window in which its handlers
// ran: the first job's start and the last job's finish, as wall-clock
// milliseconds, which the caller combines over processes on the same host.

import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { makeWorkerUtils, run, runMigrations } from "graphile-worker";

const TASK = "noop";

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const options = { mode, n: 0, clients: 16, concurrency: 64, pool: 10, batched: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = () => {
      if (i + 1 >= rest.length) throw new Error(`${flag} needs a value`);
      return rest[++i];
    };
    switch (flag) {
      case "--url": options.url = value(); break;
      case "--n": options.n = Number(value()); break;
      case "--clients": options.clients = Number(value()); break;
      case "--concurrency": options.concurrency = Number(value()); break;
      case "--pool": options.pool = Number(value()); break;
      case "--batched": options.batched = true; break;
      default: throw new Error(`unknown argument ${flag}`);
    }
  }
  if (!options.url) throw new Error("--url is required");
  return options;
}

// Wall-clock milliseconds with sub-millisecond precision, comparable between
// processes on one host (Date.now() alone has 1 ms steps).
const wallClockMs = () => performance.timeOrigin + performance.now();

// graphile-worker logs every job at info level by default; the figures must
// not include console output, so only errors are printed (to stderr).
const quietLogger = {
  scope() { return quietLogger; },
  error(message) { console.error(message); },
  warn() {}, info() {}, debug() {},
};

function print(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

// An idle client that loses its connection emits "error" on the pool, which
// would otherwise end the process without a word.
function newPool(url, max) {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", (error) => console.error(`pool: ${error.message}`));
  pool.on("connect", (client) => {
    client.on("error", (error) => console.error(`client: ${error.message}`));
  });
  return pool;
}

async function withPool(url, max, body) {
  const pool = newPool(url, max);
  try {
    return await body(pool);
  } finally {
    await pool.end();
  }
}

async function withUtils(pool, body) {
  const utils = await makeWorkerUtils({ pgPool: pool, logger: quietLogger });
  try {
    return await body(utils);
  } finally {
    await utils.release();
  }
}

const jobSpecs = (n) => Array.from({ length: n }, () => ({ identifier: TASK, payload: {} }));

/// Installs graphile-worker's schema and queues `n` jobs in one statement.
async function prepare({ url, n }) {
  await withPool(url, 2, async (pool) => {
    await runMigrations({ pgPool: pool, logger: quietLogger });
    if (n > 0) {
      await withUtils(pool, (utils) => utils.addJobs(jobSpecs(n)));
    }
  });
  print({ mode: "prepare", count: n });
}

/// `n` addJob calls from `clients` concurrent callers, each making its next
/// call as soon as the previous one returned (a closed loop), on a pool with
/// one connection per caller, opened before the clock starts.
async function submitSingle({ url, n, clients }) {
  await withPool(url, clients, async (pool) => {
    await runMigrations({ pgPool: pool, logger: quietLogger });
    await withUtils(pool, async (utils) => {
      const warm = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
      warm.forEach((client) => client.release());
      let next = 0;
      const caller = async () => {
        while (next < n) {
          next++;
          await utils.addJob(TASK, {});
        }
      };
      const started = performance.now();
      await Promise.all(Array.from({ length: clients }, caller));
      const seconds = (performance.now() - started) / 1000;
      print({ mode: "submit-single", count: n, seconds });
    });
  });
}

/// One addJobs call of `n` jobs: one `graphile_worker.add_jobs` statement.
async function submitBulk({ url, n }) {
  await withPool(url, 2, async (pool) => {
    await runMigrations({ pgPool: pool, logger: quietLogger });
    await withUtils(pool, async (utils) => {
      const specs = jobSpecs(n);
      const started = performance.now();
      await utils.addJobs(specs);
      const seconds = (performance.now() - started) / 1000;
      print({ mode: "submit-bulk", count: n, seconds });
    });
  });
}

/// The batching that graphile-worker's performance page documents (and uses
/// for its own figures): a local queue of 500 jobs fetched and locked in one
/// query, and completions batched with a delay of 0 (the next tick).
const BATCHING = { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 };

async function drain({ url, concurrency, pool: poolSize, batched }) {
  const lines = createInterface({ input: process.stdin });
  const input = lines[Symbol.asyncIterator]();
  const pool = newPool(url, poolSize);
  // Connect before announcing readiness, so that start-up is not raced.
  (await pool.connect()).release();
  print({ ready: true });
  await input.next();

  let count = 0;
  let firstStart = null;
  let lastFinish = null;
  const taskList = {
    [TASK]: async () => {
      const now = wallClockMs();
      if (firstStart === null) firstStart = now;
      count++;
      lastFinish = wallClockMs();
    },
  };
  const runner = await run({
    pgPool: pool,
    concurrency,
    taskList,
    logger: quietLogger,
    noHandleSignals: true,
    preset: batched ? { worker: BATCHING } : undefined,
  });
  // Runs until the caller closes stdin: it decides, from the database, when
  // every process together has finished the batch.
  while (!(await input.next()).done) {
    // Further lines mean nothing.
  }
  await runner.stop();
  await pool.end();
  print({ mode: "drain", count, first_start_ms: firstStart, last_finish_ms: lastFinish });
}

const options = parseArgs(process.argv.slice(2));
const modes = { prepare, "submit-single": submitSingle, "submit-bulk": submitBulk, drain };
const mode = modes[options.mode];
if (!mode) {
  console.error(`unknown mode ${options.mode}; expected one of ${Object.keys(modes).join(", ")}`);
  process.exit(2);
}
await mode(options);
