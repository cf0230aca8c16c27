// A self-signed certificate for 127.0.0.1, made with openssl, for test servers that speak TLS.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LoopbackCertificate {
  key: Buffer;
  cert: Buffer;
  /** The certificate's file: what a client is told to trust (GIT_SSL_CAINFO, a CA bundle). */
  certFile: string;
}

/** Writes key.pem and cert.pem (valid one day, for IP 127.0.0.1) into `dir`. */
export function loopbackCertificate(dir: string): LoopbackCertificate {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}
