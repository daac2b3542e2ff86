import { defineConfig } from "@playwright/test";

// The suite runs against two Hail instances that share one Redis. scripts/e2e.sh starts them
// and exports their base URLs; both use 127.0.0.1, so a session cookie set by one instance is
// also sent to the other (cookies ignore ports).
export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  fullyParallel: false,
  workers: 1, // 2-core machine, and two servers plus Redis already run beside the browser
  retries: 0,
  reporter: "list",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: !!process.env.CI,
  use: {
    // Tests address both instances by absolute URL (see tests/support.ts); A is the default.
    baseURL: process.env.HAIL_URL_A,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
