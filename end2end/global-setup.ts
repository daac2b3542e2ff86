// Waits until every Hail instance (the pair, and the demo pair) answers /healthz, so tests never
// race the servers' start-up.

const DEADLINE_MS = 60_000;
const INTERVAL_MS = 250;

function instanceUrls(): Array<[string, string]> {
  const urls: Array<[string, string]> = [];
  for (const name of ["HAIL_URL_A", "HAIL_URL_B", "HAIL_DEMO_URL_A", "HAIL_DEMO_URL_B"]) {
    const url = process.env[name];
    if (!url) {
      throw new Error(
        `${name} is not set. Run the suite through scripts/e2e.sh, which starts Redis and the ` +
          `Hail instances and exports their URLs.`,
      );
    }
    urls.push([name, url.replace(/\/+$/, "")]);
  }
  return urls;
}

async function waitHealthy(name: string, base: string): Promise<void> {
  const started = Date.now();
  let last = "no answer yet";
  while (Date.now() - started < DEADLINE_MS) {
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? `${err.message}${err.cause ? ` (${err.cause})` : ""}` : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
  throw new Error(
    `${name} (${base}/healthz) did not answer 200 within ${DEADLINE_MS / 1000} s; last: ${last}`,
  );
}

export default async function globalSetup(): Promise<void> {
  const results = await Promise.allSettled(
    instanceUrls().map(([name, base]) => waitHealthy(name, base)),
  );
  const failures = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason?.message ?? r.reason)] : []));
  if (failures.length > 0) throw new Error(failures.join("\n"));
}
