// Certificates and keys for a local control plane: a CA, the API server's serving
// certificate (for 127.0.0.1 and the in-cluster names), the service-account signing key, the
// API server's client certificate towards kubelets, and (for real nodes) each kubelet's
// serving and client certificates.

import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
  /** The API server's client certificate for kubelets (logs, exec, port-forward). */
  kubeletClientCert: string;
  kubeletClientKey: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    throw new Error(`openssl ${args[0]} failed (is openssl installed? apt-get install openssl): ${stderr}`);
  }
}

export function createPki(dir: string): Pki {
  const pki: Pki = {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "apiserver.crt"),
    serverKey: join(dir, "apiserver.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
    kubeletClientCert: join(dir, "apiserver-kubelet-client.crt"),
    kubeletClientKey: join(dir, "apiserver-kubelet-client.key"),
  };
  if (existsSync(pki.serverCert)) return pki;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "3650",
      "-subj",
      "/CN=centaurus-local-ca",
    ],
    dir,
  );
  openssl(
    ["req", ...ec, "-keyout", "apiserver.key", "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver"],
    dir,
  );
  writeFileSync(
    join(dir, "san.ext"),
    "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n",
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "apiserver.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "apiserver.crt",
      "-days",
      "3650",
      "-extfile",
      "san.ext",
    ],
    dir,
  );
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  writeFileSync(pki.saKey, privateKey, { mode: 0o600 });
  writeFileSync(pki.saPub, publicKey);
  // system:masters, as kubeadm's apiserver-kubelet-client: kubelets ask the API server
  // (SubjectAccessReview) whether this user may read logs or exec, and it may.
  issueCert(dir, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client");
  return pki;
}

/**
 * A key and certificate `<base>.key`/`<base>.crt` signed by the cluster's CA (created by
 * createPki in `dir`), with an optional subjectAltName ("IP:127.0.0.1,DNS:real-0").
 */
export function issueCert(dir: string, base: string, subject: string, subjectAltName?: string): void {
  if (existsSync(join(dir, `${base}.crt`))) return;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(["req", ...ec, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", subject], dir);
  const ext = subjectAltName ? ["-extfile", `${base}.ext`] : [];
  if (subjectAltName) writeFileSync(join(dir, `${base}.ext`), `subjectAltName=${subjectAltName}\n`);
  openssl(
    ["x509", "-req", "-in", `${base}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"].concat(
      ["-out", `${base}.crt`, "-days", "3650"],
      ext,
    ),
    dir,
  );
}

export function randomToken(): string {
  return randomBytes(24).toString("hex");
}
