// Live updates through the screens: a rider in one browser context on instance A, a driver in
// another on instance B. While a screen's connection is live it does not poll, so everything
// seen here after "Live" arrived as a push through Redis pub/sub from the other instance.

import { expect, test, type WebSocketRoute } from "@playwright/test";

import { A, B, carAt, clickMapAt, driverOnline, freshAccount, goOffline, signUp } from "./support";

test("the rider watches the car move and both screens follow the ride live", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();

    await driverOnline(driver, B, "Lena Live");
    await expect(driver.getByTestId("connection")).toHaveAttribute("data-state", "live");
    await expect(driver.getByTestId("connection")).toContainText("Live");

    await signUp(rider, A, freshAccount("rider", "Rolf Rider"));
    await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");
    await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
    await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
    await expect(rider.getByTestId("quote-fare")).toHaveText(/^€\d+\.\d\d$/);
    await rider.getByRole("button", { name: "Request ride" }).click();

    // The offer is pushed to the driver on B.
    const offer = driver.getByTestId("offer");
    await expect(offer).toBeVisible();
    await offer.getByRole("button", { name: "Accept" }).click();

    // The rider on A sees the assignment, the car and how far away it is.
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way");
    await expect(rider.getByTestId("marker-car")).toHaveCount(1);
    await expect(rider.getByTestId("eta")).toHaveText(/Your driver is about \d+ min away/);
    const before = await carAt(rider);

    // The driver moves a little (a plausible step); the rider's marker follows.
    await clickMapAt(driver, "Your position", 0.305, 0.385);
    await expect.poll(() => carAt(rider)).not.toBe(before);
    const after = await carAt(rider);
    await clickMapAt(driver, "Your position", 0.31, 0.39);
    await expect.poll(() => carAt(rider)).not.toBe(after);

    // Status changes show on both screens as they happen.
    await driver.getByTestId("active-ride").getByRole("button", { name: "Arrived at pickup" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver has arrived");
    await rider.getByRole("button", { name: "Cancel ride" }).click();
    await expect(driver.getByTestId("ride-notice")).toHaveText("The rider cancelled the ride.");
    await expect(rider.getByTestId("last-ride-status")).toBeVisible();

    // Both connections stayed live throughout: nothing here came from polling.
    await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");
    await expect(driver.getByTestId("connection")).toHaveAttribute("data-state", "live");
    await goOffline(driver);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});

test("a dropped connection comes back by itself and shows the current state", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();
    // Every socket the rider's page opens goes through here, so the test can cut one.
    const sockets: WebSocketRoute[] = [];
    await rider.routeWebSocket(/\/ws$/, (socket) => {
      socket.connectToServer();
      sockets.push(socket);
    });

    await driverOnline(driver, B, "Dirk Drop");

    await signUp(rider, A, freshAccount("rider", "Rhea Reconnect"));
    const connection = rider.getByTestId("connection");
    await expect(connection).toHaveAttribute("data-state", "live");
    await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
    await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
    await expect(rider.getByTestId("quote-fare")).toHaveText(/^€\d+\.\d\d$/);
    await rider.getByRole("button", { name: "Request ride" }).click();
    await driver.getByTestId("offer").getByRole("button", { name: "Accept" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way");

    // The network drops the rider's socket; the ride moves on meanwhile.
    expect(sockets).toHaveLength(1);
    await sockets[0].close({ code: 4000, reason: "network gone" });
    await expect(connection).toHaveAttribute("data-state", "reconnecting");
    await expect(connection).toContainText(/Reconnecting|Connecting/);
    await driver.getByTestId("active-ride").getByRole("button", { name: "Arrived at pickup" }).click();

    // Back by itself, on a new socket, showing where the ride is now.
    await expect(connection).toHaveAttribute("data-state", "live");
    expect(sockets.length).toBeGreaterThan(1);
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver has arrived");
    await expect(rider.getByTestId("marker-car")).toHaveCount(1);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});

test("screens rendered by the server on a reload hydrate and stay live", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();
    await driverOnline(driver, B, "Rhys Reload");
    await signUp(rider, A, freshAccount("rider", "Rosa Reload"));

    // A reload is a whole page rendered by the server, then hydrated in the browser; a few of
    // them, since what went wrong (a page carrying its data twice) depended on timing.
    for (let i = 0; i < 3; i++) {
      await driver.reload();
      await expect(driver.getByTestId("connection")).toHaveAttribute("data-state", "live");
      await expect(driver.getByTestId("driver-presence")).toHaveText(/You are online/);
    }
    await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
    await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
    await expect(rider.getByTestId("quote-fare")).toHaveText(/^€\d+\.\d\d$/);
    await rider.getByRole("button", { name: "Request ride" }).click();
    // Pushed to the reloaded driver's screen, which acts on it.
    await driver.getByTestId("offer").getByRole("button", { name: "Accept" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way");

    for (let i = 0; i < 3; i++) {
      await rider.reload();
      await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");
      await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way");
    }
    // Changes reach the reloaded rider's screen live, and the reloaded driver's buttons work.
    await driver.getByTestId("active-ride").getByRole("button", { name: "Arrived at pickup" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver has arrived");
    const before = await carAt(rider);
    await clickMapAt(driver, "Your position", 0.305, 0.385);
    await expect.poll(() => carAt(rider)).not.toBe(before);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});
