#!/usr/bin/env node
'use strict';
// The package as a user gets it: `npm pack`, then `npm install` of the
// tarball into an empty project, and a call on both transports from there.
//
// Usage: node package_install_test.js PATH/TO/dualrpc-server
//
// 1. Copies this package (without node_modules) and the repository's proto/
//    into a temporary tree laid out like a fresh checkout, and runs
//    `npm pack` there (so prepack/postpack touch nothing in the real one).
// 2. Checks the tarball: lib/, index.d.ts and the bundled .proto files; and
//    that postpack removed the bundled copy from the packed tree again.
// 3. Checks that index.d.ts declares every runtime export (and, if the
//    repository's node_modules has typescript, that tsc accepts it).
// 4. `npm install --prefer-offline <tarball>` into an empty project (the
//    dependencies come from npm's cache, which scripts/bootstrap filled).
// 5. Runs a one-file script there, with no DUALRPC_PROTO_DIR, that echoes
//    over grpc:// and raw:// against a live dualrpc-server on port 0.
// Exits 0 only if every step passed; the server is always stopped.

const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { startServer, stopServer } = require('./conformance_runner');

const PACKAGE_DIR = path.resolve(__dirname, '..');
const REPO_DIR = path.resolve(PACKAGE_DIR, '..', '..');
// Bounds every child process (npm may fetch what the cache lacks).
const STEP_TIMEOUT_MS = 120000;
const CALL_SCRIPT = `'use strict';
const dualrpc = require('dualrpc');
async function main() {
  console.log('dualrpc from ' + require.resolve('dualrpc'));
  for (const target of process.argv.slice(2)) {
    const client = dualrpc.connect(target, { deadlineMs: 10000 });
    try {
      const payload = await client.echo(Buffer.from('packed ' + target));
      if (payload.toString() !== 'packed ' + target) throw new Error(target + ': wrong echo ' + payload);
      console.log(target + ' echo: ' + payload.toString());
    } finally {
      client.close();
    }
  }
}
main().catch((error) => { console.error(error.stack || String(error)); process.exitCode = 1; });
`;

function run(command, args, options) {
  console.log(`$ ${command} ${args.join(' ')}`);
  const result = childProcess.spawnSync(command, args, {
    encoding: 'utf8', timeout: STEP_TIMEOUT_MS, ...options,
  });
  process.stdout.write(result.stdout || '');
  process.stdout.write(result.stderr || '');
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`);
  return result.stdout;
}

function copyCheckout(destination) {
  const packageCopy = path.join(destination, 'clients', 'node');
  fs.cpSync(PACKAGE_DIR, packageCopy, {
    recursive: true,
    filter: (source) => {
      const relative = path.relative(PACKAGE_DIR, source);
      return !['node_modules', 'proto'].includes(relative) && !relative.endsWith('.tgz');
    },
  });
  fs.cpSync(path.join(REPO_DIR, 'proto'), path.join(destination, 'proto'), { recursive: true });
  return packageCopy;
}

function checkDeclarations(packageCopy) {
  const declarations = fs.readFileSync(path.join(packageCopy, 'index.d.ts'), 'utf8');
  const runtime = require(path.join(PACKAGE_DIR, 'lib', 'index.js'));
  const undeclared = Object.keys(runtime).filter(
    (name) => !new RegExp(`export declare (const|function|class) ${name}\\b`).test(declarations));
  if (undeclared.length > 0) throw new Error(`index.d.ts does not declare ${undeclared.join(', ')}`);
  const tsc = path.join(REPO_DIR, 'node_modules', '.bin', 'tsc');
  if (fs.existsSync(tsc)) {
    run(tsc, ['--noEmit', '--strict', '--types', 'node', path.join(packageCopy, 'index.d.ts')], {});
  } else {
    console.log('(typescript not in the repository\'s node_modules: index.d.ts not compiled)');
  }
}

async function main() {
  const serverPath = process.argv[2];
  if (!serverPath) throw new Error('usage: node package_install_test.js PATH/TO/dualrpc-server');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dualrpc-node-pack-'));
  let server = null;
  try {
    const env = { ...process.env };
    delete env.DUALRPC_PROTO_DIR;
    const packageCopy = copyCheckout(path.join(work, 'checkout'));
    const packDir = path.join(work, 'pack');
    fs.mkdirSync(packDir);
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: packageCopy, env }));
    const tarball = path.join(packDir, packed[0].filename);
    const files = packed[0].files.map((file) => file.path);
    for (const wanted of ['lib/index.js', 'lib/contract_files.js', 'index.d.ts', 'package.json',
      'proto/dualrpc/v1/file_service.proto', 'proto/dualrpc/wire/v1/wire.proto']) {
      if (!files.includes(wanted)) throw new Error(`the tarball lacks ${wanted} (has ${files.join(', ')})`);
    }
    if (fs.existsSync(path.join(packageCopy, 'proto'))) throw new Error('postpack left proto/ in the package');
    checkDeclarations(packageCopy);

    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: project, env });
    fs.writeFileSync(path.join(project, 'call.js'), CALL_SCRIPT);

    const root = path.join(work, 'root');
    fs.mkdirSync(root);
    server = await startServer(serverPath, root, work);
    const { grpc, raw } = server.addresses;
    const output = run(process.execPath, ['call.js', `grpc://${grpc}`, `raw://${raw}`], { cwd: project, env });
    if (!output.includes(`dualrpc from ${path.join(project, 'node_modules', 'dualrpc')}`)) {
      throw new Error('call.js did not load the installed package');
    }
    console.log('OK: packed, installed, echoed over both transports');
    return 0;
  } finally {
    if (server !== null) await stopServer(server.process);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then((code) => {
  process.exitCode = code;
}, (error) => {
  console.log(`FAIL: ${error.stack || error}`);
  process.exitCode = 1;
});
