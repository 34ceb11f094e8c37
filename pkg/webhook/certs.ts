// A serving certificate for the admission webhook server. The API server calls webhooks over
// TLS and trusts exactly the caBundle in the webhook configuration, so the manager makes its
// own: one self-signed ECDSA certificate (CA:true, so it is also the bundle) naming the hosts
// the API server dials. @peculiar/x509 builds it: Node's crypto can sign but not issue X.509.

import { webcrypto } from "node:crypto";
// @peculiar/x509 resolves its crypto providers through tsyringe, which needs this polyfill first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export interface ServingCert {
  /** PEM certificate: served, and given to the API server as the caBundle. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/** A certificate for `hosts` (IP addresses and DNS names), valid for a year. */
export async function selfSignedCert(hosts: readonly string[]): Promise<ServingCert> {
  const crypto = webcrypto;
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const ip = /^[0-9.]+$|:/;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex"),
      name: "CN=centaurus-webhook",
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + ONE_YEAR_MS),
      signingAlgorithm: ALGORITHM,
      keys: keys as never,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          hosts.map((h) => (ip.test(h) ? { type: "ip", value: h } : { type: "dns", value: h })),
        ),
      ],
    },
    // Node's webcrypto is the Crypto the library expects; only the lib typings differ.
    crypto as never,
  );
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const key = x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
  return { cert: cert.toString("pem"), key };
}
