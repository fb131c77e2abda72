// Run before every npm script (pre*): one line instead of a stack trace when the Node that runs
// the scripts is too old. `npm ci` normally brings Node 24 (the `node` devDependency), which npm
// puts first on the scripts' PATH; this fires when it could not (e.g. `npm ci --ignore-scripts`).
// CommonJS and no syntax newer than Node 4, so that it runs on whatever Node is there.
'use strict';
var need = require('../package.json').engines.node.replace(/^>=\s*/, '');
var have = process.versions.node;
function parts(v) { return v.split('.').map(Number); }
function older(a, b) {
  for (var i = 0; i < 3; i++) if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) < (b[i] || 0);
  return false;
}
if (older(parts(have), parts(need))) {
  process.stderr.write('registry-token needs Node.js ' + need + ' or newer, this is ' + have +
    ': run `npm ci` (it installs Node 24 for the npm scripts) or install Node.js 24 LTS\n');
  process.exit(1);
}
