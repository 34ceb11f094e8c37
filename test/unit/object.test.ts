import { expect } from "chai";
import fc from "fast-check";
import {
  controllerOf,
  controllerReference,
  isBeingDeleted,
  type KubeObject,
  objectKey,
  splitKey,
} from "../../pkg/kube/object.ts";
import {
  apiVersionOf,
  collectionPath,
  objectPath,
  Resources,
  type ResourceType,
  resourceId,
} from "../../pkg/kube/resource.ts";

/** DNS-1123 subdomain-like names: what namespaces and object names look like (never a "/"). */
const dnsName = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?$/);

const Widget: ResourceType = {
  group: "example.centaurus.io",
  version: "v1alpha1",
  plural: "widgets",
  kind: "Widget",
  namespaced: true,
};
const Cluster: ResourceType = {
  group: "example.centaurus.io",
  version: "v1alpha1",
  plural: "clusterwidgets",
  kind: "ClusterWidget",
  namespaced: false,
};

describe("kube: object helpers", () => {
  describe("objectKey / splitKey", () => {
    it("keys namespaced objects by namespace/name and cluster-scoped ones by name", () => {
      expect(objectKey({ metadata: { namespace: "ns", name: "a" } })).to.equal("ns/a");
      expect(objectKey({ metadata: { name: "node-1" } })).to.equal("node-1");
      expect(objectKey({ metadata: { namespace: "", name: "a" } })).to.equal("a");
      expect(objectKey({ metadata: { namespace: "ns" } })).to.equal("ns/");
      expect(objectKey({ metadata: {} })).to.equal("");
      expect(splitKey("ns/a")).to.deep.equal({ namespace: "ns", name: "a" });
      expect(splitKey("node-1")).to.deep.equal({ name: "node-1" });
      expect(splitKey("node-1")).not.to.have.property("namespace");
    });

    it("property: splitKey inverts objectKey", () => {
      fc.assert(
        fc.property(fc.option(dnsName, { nil: undefined }), dnsName, (namespace, name) => {
          const obj: KubeObject = { metadata: { name, ...(namespace !== undefined && { namespace }) } };
          const key = objectKey(obj);
          expect(splitKey(key)).to.deep.equal(namespace === undefined ? { name } : { namespace, name });
          expect(objectKey({ metadata: splitKey(key) })).to.equal(key);
        }),
      );
    });
  });

  describe("owner references", () => {
    const owner: KubeObject = {
      apiVersion: "example.centaurus.io/v1alpha1",
      kind: "Widget",
      metadata: { name: "w", namespace: "ns", uid: "1234-abcd" },
    };

    it("controllerReference points at the owner, as controller, blocking its deletion", () => {
      expect(controllerReference(owner)).to.deep.equal({
        apiVersion: "example.centaurus.io/v1alpha1",
        kind: "Widget",
        name: "w",
        uid: "1234-abcd",
        controller: true,
        blockOwnerDeletion: true,
      });
    });

    it("controllerReference requires apiVersion, kind, name and uid", () => {
      const message = /the owner needs apiVersion, kind, metadata.name and metadata.uid/;
      expect(() => controllerReference({ ...owner, metadata: { name: "w", namespace: "ns" } })).to.throw(
        message,
      );
      expect(() => controllerReference({ ...owner, metadata: { ...owner.metadata, uid: "" } })).to.throw(
        message,
      );
      expect(() => controllerReference({ ...owner, metadata: { uid: "u" } })).to.throw(message);
      expect(() => controllerReference({ metadata: owner.metadata, kind: "Widget" })).to.throw(message);
      expect(() => controllerReference({ metadata: owner.metadata, apiVersion: "v1" })).to.throw(message);
    });

    it("controllerOf finds the controller reference only", () => {
      const ref = controllerReference(owner);
      const other = { apiVersion: "v1", kind: "ConfigMap", name: "c", uid: "u2" };
      const notController = { ...other, controller: false };
      expect(controllerOf({ metadata: { ownerReferences: [other, notController, ref] } })).to.equal(ref);
      expect(controllerOf({ metadata: { ownerReferences: [other, notController] } })).to.equal(undefined);
      expect(controllerOf({ metadata: {} })).to.equal(undefined);
    });

    it("isBeingDeleted looks at deletionTimestamp", () => {
      expect(isBeingDeleted({ metadata: {} })).to.equal(false);
      expect(isBeingDeleted({ metadata: { deletionTimestamp: "2024-01-01T00:00:00Z" } })).to.equal(true);
    });
  });

  describe("resource paths", () => {
    it("apiVersionOf and resourceId for core and grouped resources", () => {
      expect(apiVersionOf(Resources.Pod)).to.equal("v1");
      expect(apiVersionOf(Resources.Lease)).to.equal("coordination.k8s.io/v1");
      expect(resourceId(Resources.ConfigMap)).to.equal("configmaps");
      expect(resourceId(Resources.Lease)).to.equal("leases.coordination.k8s.io");
      expect(resourceId(Widget)).to.equal("widgets.example.centaurus.io");
    });

    it("collectionPath for core and grouped, namespaced and cluster-scoped resources", () => {
      expect(collectionPath(Resources.ConfigMap, "ns")).to.equal("/api/v1/namespaces/ns/configmaps");
      expect(collectionPath(Resources.ConfigMap)).to.equal("/api/v1/configmaps"); // all namespaces
      expect(collectionPath(Resources.ConfigMap, "")).to.equal("/api/v1/configmaps");
      expect(collectionPath(Resources.Node)).to.equal("/api/v1/nodes");
      expect(collectionPath(Resources.Node, "ignored")).to.equal("/api/v1/nodes");
      expect(collectionPath(Resources.Lease, "kube-system")).to.equal(
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
      );
      expect(collectionPath(Widget)).to.equal("/apis/example.centaurus.io/v1alpha1/widgets");
      expect(collectionPath(Resources.ClusterRole)).to.equal(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
      );
      expect(collectionPath(Cluster, "ns")).to.equal("/apis/example.centaurus.io/v1alpha1/clusterwidgets");
    });

    it("objectPath for core and grouped, namespaced and cluster-scoped resources, with subresources", () => {
      expect(objectPath(Resources.Pod, "p", "ns")).to.equal("/api/v1/namespaces/ns/pods/p");
      expect(objectPath(Resources.Pod, "p", "ns", "status")).to.equal("/api/v1/namespaces/ns/pods/p/status");
      expect(objectPath(Resources.Namespace, "ns")).to.equal("/api/v1/namespaces/ns");
      expect(objectPath(Resources.Node, "n1", undefined, "status")).to.equal("/api/v1/nodes/n1/status");
      expect(objectPath(Widget, "w", "ns", "status")).to.equal(
        "/apis/example.centaurus.io/v1alpha1/namespaces/ns/widgets/w/status",
      );
      expect(objectPath(Resources.CustomResourceDefinition, "widgets.example.centaurus.io")).to.equal(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.centaurus.io",
      );
      expect(objectPath(Cluster, "c", "ignored")).to.equal(
        "/apis/example.centaurus.io/v1alpha1/clusterwidgets/c",
      );
    });

    it("objectPath escapes names and namespaces", () => {
      expect(objectPath(Resources.ConfigMap, "a b/c", "n s")).to.equal(
        "/api/v1/namespaces/n%20s/configmaps/a%20b%2Fc",
      );
    });

    it("objectPath throws without a namespace for namespaced kinds", () => {
      expect(() => objectPath(Resources.Pod, "p")).to.throw(/Pod p: a namespace is required/);
      expect(() => objectPath(Widget, "w", "")).to.throw(/Widget w: a namespace is required/);
      expect(() => objectPath(Resources.Lease, "l", undefined, "status")).to.throw(/namespace is required/);
    });

    it("every built-in resource has a consistent path shape", () => {
      for (const [name, rt] of Object.entries(Resources) as Array<[string, ResourceType]>) {
        expect(rt.kind, name).to.equal(name);
        const prefix = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
        const path = rt.namespaced ? objectPath(rt, "x", "ns") : objectPath(rt, "x");
        expect(path).to.equal(
          rt.namespaced ? `${prefix}/namespaces/ns/${rt.plural}/x` : `${prefix}/${rt.plural}/x`,
        );
      }
    });
  });
});
