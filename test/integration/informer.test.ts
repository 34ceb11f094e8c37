// The informer against a real kube-apiserver: every change delivered, through an API server
// crash, an expired resourceVersion (410 Gone) and a watch that goes silent; and a watch that
// is merely quiet (nothing changes) is no cause for a warning.

import { expect } from "chai";
import { pino } from "pino";
import { Informer } from "../../pkg/cache/informer.ts";
import type { KubeClient } from "../../pkg/kube/client.ts";
import { clientForToken } from "../../pkg/kube/config.ts";
import { ApiError } from "../../pkg/kube/errors.ts";
import { type KubeObject, objectKey } from "../../pkg/kube/object.ts";
import { Resources } from "../../pkg/kube/resource.ts";
import type { LocalCluster } from "../../pkg/localcluster/cluster.ts";
import { testCluster, uniqueName } from "../../pkg/testing/cluster.ts";
import { TcpProxy } from "../../pkg/testing/tcp-proxy.ts";
import { waitFor } from "../../pkg/testing/wait.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/** Records what an informer delivered, per key. */
function recorder(informer: Informer<ConfigMap>) {
  const seen = { adds: new Set<string>(), updates: new Map<string, string>(), deletes: new Set<string>() };
  informer.addEventHandler({
    onAdd: (o) => seen.adds.add(objectKey(o)),
    onUpdate: (_old, o) => seen.updates.set(objectKey(o), o.data?.v ?? ""),
    onDelete: (o) => seen.deletes.add(objectKey(o)),
  });
  return seen;
}

async function serverKeys(client: KubeClient, namespace: string): Promise<string[]> {
  const list = await client.list(Resources.ConfigMap, { namespace });
  return list.items.map(objectKey).sort();
}

/** The informer's cache equals what the server holds, resourceVersions included. */
async function cacheMatchesServer(
  informer: Informer<ConfigMap>,
  client: KubeClient,
  namespace: string,
): Promise<boolean> {
  const list = await client.list<ConfigMap>(Resources.ConfigMap, { namespace });
  if (list.items.length !== informer.store.size) return false;
  return list.items.every(
    (o) => informer.store.get(objectKey(o))?.metadata.resourceVersion === o.metadata.resourceVersion,
  );
}

describe("informer (real kube-apiserver)", function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  let client: KubeClient;
  let namespace: string;
  const informers: Informer<ConfigMap>[] = [];

  const cm = (name: string, v: string): ConfigMap => ({ metadata: { name, namespace }, data: { v } });

  before(async () => {
    cluster = testCluster();
    client = await cluster.clientFor();
  });
  beforeEach(async () => {
    namespace = uniqueName("inf");
    await client.create(Resources.Namespace, { metadata: { name: namespace } });
  });
  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
    await client.delete(Resources.Namespace, namespace);
  });
  after(() => client.close());

  function start(
    c: KubeClient,
    opts: ConstructorParameters<typeof Informer<ConfigMap>>[2] = {},
  ): Informer<ConfigMap> {
    const informer = new Informer<ConfigMap>(c, Resources.ConfigMap, { namespace, ...opts });
    informers.push(informer);
    informer.start();
    return informer;
  }

  it("sees every create, update and delete, and caches frozen objects without managedFields", async () => {
    await client.create(Resources.ConfigMap, cm("before-start", "0"));
    const informer = start(client);
    const seen = recorder(informer);
    await informer.waitForSync();
    expect(seen.adds.has(`${namespace}/before-start`)).to.equal(true);
    for (let i = 0; i < 20; i++) await client.create(Resources.ConfigMap, cm(`cm-${i}`, "1"));
    for (let i = 0; i < 10; i++)
      await client.patch(Resources.ConfigMap, `cm-${i}`, namespace, "merge", { data: { v: "2" } });
    for (let i = 15; i < 20; i++) await client.delete(Resources.ConfigMap, `cm-${i}`, namespace);
    await waitFor("the cache to match the server", () => cacheMatchesServer(informer, client, namespace));
    for (let i = 0; i < 20; i++) expect(seen.adds.has(`${namespace}/cm-${i}`), `add cm-${i}`).to.equal(true);
    for (let i = 0; i < 10; i++)
      expect(seen.updates.get(`${namespace}/cm-${i}`), `update cm-${i}`).to.equal("2");
    for (let i = 15; i < 20; i++)
      expect(seen.deletes.has(`${namespace}/cm-${i}`), `delete cm-${i}`).to.equal(true);
    const cached = informer.store.get(`${namespace}/cm-0`);
    expect(cached?.metadata.managedFields).to.equal(undefined);
    expect(Object.isFrozen(cached?.metadata)).to.equal(true);
  });

  it("delivers changes made while its kube-apiserver was down, after it comes back", async () => {
    const informer = start(client, {
      backoff: { initialMs: 200, maxMs: 1000, resetAfterMs: 10_000, jitter: 0 },
    });
    const seen = recorder(informer);
    for (let i = 0; i < 5; i++) await client.create(Resources.ConfigMap, cm(`keep-${i}`, "1"));
    await waitFor("the initial objects", () => cacheMatchesServer(informer, client, namespace));

    // A second API server on the same etcd takes writes while the informer's one is down.
    const other = await cluster.startExtraApiserver();
    const otherClient = clientForToken(other.server, cluster.state.tokens.admin ?? "", cluster.caData);
    try {
      await cluster.stopComponent("kube-apiserver", 0);
      await otherClient.create(Resources.ConfigMap, cm("created-while-down", "1"));
      await otherClient.patch(Resources.ConfigMap, "keep-0", namespace, "merge", {
        data: { v: "changed-while-down" },
      });
      await otherClient.delete(Resources.ConfigMap, "keep-1", namespace);
      cluster.startComponent("kube-apiserver");
      await waitFor(
        "the cache to catch up after the restart",
        () => cacheMatchesServer(informer, client, namespace),
        { timeoutMs: 60_000 },
      );
    } finally {
      otherClient.close();
      await other.stop();
    }
    expect(seen.adds.has(`${namespace}/created-while-down`)).to.equal(true);
    expect(seen.updates.get(`${namespace}/keep-0`)).to.equal("changed-while-down");
    expect(seen.deletes.has(`${namespace}/keep-1`)).to.equal(true);
    expect(await serverKeys(client, namespace)).to.deep.equal(informer.store.keys().sort());
    expect(informer.stats.errors).to.be.greaterThan(0);
  });

  it("relists when its resourceVersion has expired (410 Gone from the server)", async () => {
    const informer = start(client, {
      backoff: { initialMs: 200, maxMs: 1000, resetAfterMs: 10_000, jitter: 0 },
    });
    await informer.waitForSync();
    await client.create(Resources.ConfigMap, cm("a", "1"));
    await waitFor("the first object", () => informer.store.get(`${namespace}/a`));
    const staleRv = informer.lastSyncResourceVersion();
    const listsBefore = informer.stats.lists;

    // Restarting kube-apiserver empties its watch cache: history older than the restart is
    // gone, so resuming from the informer's resourceVersion must be answered 410.
    const other = await cluster.startExtraApiserver();
    const otherClient = clientForToken(other.server, cluster.state.tokens.admin ?? "", cluster.caData);
    try {
      await cluster.stopComponent("kube-apiserver", 0);
      for (let i = 0; i < 5; i++) await otherClient.create(Resources.ConfigMap, cm(`b-${i}`, "1"));
      cluster.startComponent("kube-apiserver");
      await waitFor("the cache to catch up", () => cacheMatchesServer(informer, client, namespace), {
        timeoutMs: 60_000,
      });
    } finally {
      otherClient.close();
      await other.stop();
    }
    // The server really says Gone for that resourceVersion...
    const gone = await (async () => {
      try {
        for await (const _ of client.watch(Resources.ConfigMap, {
          namespace,
          resourceVersion: staleRv,
          timeoutSeconds: 1,
        })) {
          /* events would mean the version is still served */
        }
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(gone).to.be.instanceOf(ApiError);
    expect((gone as ApiError).code).to.equal(410);
    // ...and the informer answered it with a relist.
    expect(informer.stats.expired).to.be.greaterThan(0);
    expect(informer.stats.lists).to.be.greaterThan(listsBefore);
  });

  it("a quiet watch (nothing changes for 3 minutes) logs no warning and still delivers the next change", async function () {
    this.timeout(300_000);
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: "debug" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    // An idle timeout well under the server's bookmark interval, so that the watchdog does fire
    // during the quiet spell (the edge pool uses 60 s, the default is 150 s).
    const informer = start(client, { idleTimeoutMs: 20_000, logger });
    await informer.waitForSync();
    await new Promise((r) => setTimeout(r, 180_000));
    await client.create(Resources.ConfigMap, cm("after-quiet", "1"));
    await waitFor("the change after the quiet spell", () => informer.store.get(`${namespace}/after-quiet`), {
      timeoutMs: 10_000,
    });
    expect(informer.stats.idleRestarts, "the watchdog noticed the quiet").to.be.greaterThan(0);
    const warnings = lines.filter((l) => l.level >= 40);
    expect(warnings, JSON.stringify(warnings)).to.deep.equal([]);
    process.stderr.write(
      `      (quiet watch: ${informer.stats.idleRestarts} quiet renewals, ${informer.stats.watches} watches)\n`,
    );
  });

  it("restarts a watch that goes silent (idle watchdog)", async () => {
    const proxy = new TcpProxy("127.0.0.1", cluster.state.ports["kube-apiserver"]);
    const server = await proxy.start();
    const viaProxy = clientForToken(server, cluster.state.tokens.admin ?? "", cluster.caData);
    try {
      const informer = start(viaProxy, { idleTimeoutMs: 2000 });
      await informer.waitForSync();
      await client.create(Resources.ConfigMap, cm("before-silence", "1"));
      await waitFor("the first object", () => informer.store.get(`${namespace}/before-silence`));
      // The watch connection stays open but carries nothing more, like a dead NAT mapping.
      expect(proxy.freezeExisting()).to.be.greaterThan(0);
      await client.create(Resources.ConfigMap, cm("during-silence", "1"));
      await waitFor(
        "the object created while the watch was silent",
        () => informer.store.get(`${namespace}/during-silence`),
        {
          timeoutMs: 20_000,
        },
      );
      expect(informer.stats.idleRestarts).to.be.greaterThan(0);
    } finally {
      viaProxy.close();
      await proxy.stop();
    }
  });
});
