// BadgeChain interop peer: the JavaScript reference stack (Digital Bazaar) signs and
// verifies credentials for the Python tests. JSON on stdin, JSON on stdout, no network:
// contexts come only from BadgeChain's installed folder, did:key is resolved locally.
//
//   node peer.mjs <key|sign|verify|verify-batch> --contexts <chain/contexts/installed>
//
//   key           {seedHex}                    -> {did, verificationMethod, publicKeyMultibase}
//   sign          {credential, seedHex, created} -> the credential with an eddsa-rdfc-2022 proof
//   verify        {credential, now?}           -> {verified, errors, warnings}
//                 (eddsa-rdfc-2022 or eddsa-jcs-2022 proofs)
//   verify-batch  [credential, ...]            -> {results: [{verified, errors, warnings}],
//                                                  elapsedMs}
//
// Exit status: 0 with a JSON answer; 2 with a message on stderr when the input is unusable.
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {performance} from 'node:perf_hooks';

import * as DidKey from '@digitalbazaar/did-method-key';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {JsonLdDocumentLoader} from 'jsonld-document-loader';
import {cryptosuite as eddsaRdfc2022} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {createVerifyCryptosuite as eddsaJcs2022Verify} from
  '@digitalbazaar/eddsa-jcs-2022-cryptosuite';

const SEED_BYTES = 32;

class UsageError extends Error {}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  let contexts = process.env.BADGECHAIN_CONTEXTS_DIR;
  for(let i = 0; i < rest.length; i++) {
    if(rest[i] === '--contexts') {
      contexts = rest[++i];
    } else {
      throw new UsageError(`unknown argument ${rest[i]}`);
    }
  }
  if(!contexts) {
    throw new UsageError('give --contexts DIR or BADGECHAIN_CONTEXTS_DIR');
  }
  return {command, contexts};
}

async function buildDocumentLoader(contextsDir) {
  const indexPath = path.join(contextsDir, 'index.json');
  let index;
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch(e) {
    throw new UsageError(
      `cannot read ${indexPath} (run scripts/install_contexts.py): ${e.message}`);
  }
  const loader = new JsonLdDocumentLoader();
  for(const [url, file] of Object.entries(index)) {
    const text = await readFile(path.join(contextsDir, path.basename(file)), 'utf8');
    loader.addStatic(url, JSON.parse(text));
  }
  // did:key documents are derived from the identifier itself: nothing is fetched.
  const didKeyDriver = DidKey.driver();
  didKeyDriver.use({
    multibaseMultikeyHeader: 'z6Mk',
    fromMultibase: Ed25519Multikey.from
  });
  loader.setDidResolver(didKeyDriver);
  // Any other URL (https:, http:, did:web, ...) is refused by the loader itself.
  return loader.build();
}

async function keyFromSeed(seedHex) {
  if(typeof seedHex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(seedHex)) {
    throw new UsageError(`seedHex must be ${SEED_BYTES} bytes in hex`);
  }
  const seed = Uint8Array.from(Buffer.from(seedHex, 'hex'));
  const probe = await Ed25519Multikey.generate({seed});
  const did = `did:key:${probe.publicKeyMultibase}`;
  return Ed25519Multikey.generate({seed, controller: did});
}

async function describeKey({seedHex}) {
  const keyPair = await keyFromSeed(seedHex);
  return {
    did: keyPair.controller,
    verificationMethod: keyPair.id,
    publicKeyMultibase: keyPair.publicKeyMultibase
  };
}

async function sign({credential, seedHex, created}, documentLoader) {
  if(!credential || typeof credential !== 'object') {
    throw new UsageError('credential must be a JSON object');
  }
  const date = new Date(created);
  if(typeof created !== 'string' || Number.isNaN(date.getTime())) {
    throw new UsageError('created must be an ISO 8601 date-time string');
  }
  const keyPair = await keyFromSeed(seedHex);
  const suite = new DataIntegrityProof({
    signer: keyPair.signer(), date, cryptosuite: eddsaRdfc2022
  });
  return vc.issue({credential, suite, documentLoader, now: date});
}

function errorMessages(error) {
  if(!error) {
    return [];
  }
  const nested = Array.isArray(error.errors) ? error.errors : [];
  if(nested.length > 0) {
    return nested.flatMap(errorMessages);
  }
  // jsonld.js safe mode puts the reason (which term, which IRI) in details.event.
  const event = error.details && error.details.event;
  const reason = event && event.message ? ` (${event.code}: ${event.message})` : '';
  return [`${error.name || 'Error'}: ${error.message || String(error)}${reason}`];
}

function collectErrors(result) {
  const messages = errorMessages(result.error);
  for(const proof of result.results || []) {
    if(!proof.verified) {
      messages.push(...errorMessages(proof.error));
    }
  }
  return [...new Set(messages)];
}

// Status lists are outside this peer's job (it compares proofs): a credentialStatus is
// let through, and the answer says so in `warnings` rather than claiming "not revoked".
async function statusNotChecked() {
  return {verified: true};
}

async function verifyOne(credential, documentLoader, now) {
  // Either cryptosuite BadgeChain issues (POST /credentials/issue: rdfc by default, jcs
  // on request); the library picks the one the proof names.
  const suite = [
    new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
    new DataIntegrityProof({cryptosuite: eddsaJcs2022Verify()})
  ];
  const warnings = credential && credential.credentialStatus ?
    ['credentialStatus is not checked by the interop peer'] : [];
  try {
    const result = await vc.verifyCredential({
      credential, suite, documentLoader, checkStatus: statusNotChecked,
      ...(now ? {now} : {})
    });
    const verified = result.verified === true;
    const errors = collectErrors(result);
    if(!verified && errors.length === 0) {
      errors.push('not verified (the library gave no reason)');
    }
    return {verified, errors, warnings};
  } catch(e) {
    return {verified: false, errors: errorMessages(e), warnings};
  }
}

async function verify({credential, now}, documentLoader) {
  return verifyOne(credential, documentLoader, now);
}

async function verifyBatch(credentials, documentLoader) {
  if(!Array.isArray(credentials)) {
    throw new UsageError('verify-batch takes a JSON array of credentials');
  }
  const start = performance.now();
  const results = [];
  for(const credential of credentials) {
    results.push(await verifyOne(credential, documentLoader));
  }
  return {results, elapsedMs: performance.now() - start};
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch(e) {
    throw new UsageError(`stdin is not JSON: ${e.message}`);
  }
}

const COMMANDS = {
  key: input => describeKey(input),
  sign: (input, loader) => sign(input, loader),
  verify: (input, loader) => verify(input, loader),
  'verify-batch': (input, loader) => verifyBatch(input, loader)
};

async function main() {
  const {command, contexts} = parseArgs(process.argv.slice(2));
  const run = COMMANDS[command];
  if(!run) {
    throw new UsageError(
      `command must be one of ${Object.keys(COMMANDS).join(', ')}`);
  }
  const documentLoader = await buildDocumentLoader(contexts);
  const input = await readStdin();
  if(input === null || typeof input !== 'object') {
    throw new UsageError('stdin must hold a JSON object or array');
  }
  process.stdout.write(JSON.stringify(await run(input, documentLoader)));
}

main().catch(e => {
  process.stderr.write(`peer: ${e instanceof UsageError ? '' : e.stack + '\n'}` +
    `${e.message}\n`);
  process.exitCode = 2;
});
