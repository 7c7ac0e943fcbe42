// Validates Kubernetes manifests offline against the Kubernetes schemas of npm's kubernetes-models.
// Usage: node validate_manifests.mjs NODE_MODULES_PARENT FILE.yaml|FOLDER...  (a folder: its *.yaml)
// (NODE_MODULES_PARENT: the folder holding node_modules/, i.e. deploy/ after `npm ci --prefix deploy`.)
// Every YAML document must have an apiVersion and kind that kubernetes-models has a class for, must
// pass that class's validate(), and may hold no field the schema does not know (kubectl's strict
// field validation refuses those; kubernetes-models' schemas allow them). Unknown fields are found
// by watching which properties the schema's own validator reads: a map (labels, ConfigMap data,
// resource quantities) is enumerated by it, so all its keys count as known.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [modulesParent, ...paths] = process.argv.slice(2);
if (!modulesParent || paths.length === 0) {
  console.error('usage: validate_manifests.mjs NODE_MODULES_PARENT FILE.yaml|FOLDER...');
  process.exit(2);
}
const files = paths.flatMap((p) => statSync(p).isDirectory()
  ? readdirSync(p).filter((name) => name.endsWith('.yaml')).sort().map((name) => path.join(p, name))
  : [p]);
const require = createRequire(path.resolve(modulesParent, 'package.json'));
let YAML;
try {
  YAML = require('yaml');
  require.resolve('kubernetes-models');
} catch (error) {
  console.error(`kubernetes-models or yaml missing under ${modulesParent}/node_modules ` +
                `(run: npm ci --prefix ${modulesParent}): ${error.message}`);
  process.exit(1);
}

function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string')
    throw new Error('apiVersion and kind must be strings');
  let module;
  try {
    module = require(`kubernetes-models/${apiVersion}`);
  } catch (error) {
    throw new Error(`unknown apiVersion ${apiVersion}`);
  }
  const cls = module[kind];
  if (typeof cls !== 'function' || cls.apiVersion !== apiVersion || cls.kind !== kind)
    throw new Error(`unknown kind ${kind} in ${apiVersion}`);
  return cls;
}

// A deep proxy of `value` that records, per object, the keys read and whether it was enumerated.
function watch(value, seen) {
  if (value === null || typeof value !== 'object') return value;
  const record = { read: new Set(), enumerated: false };
  seen.set(value, record);
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === 'string') record.read.add(key);
      const inner = Reflect.get(target, key, receiver);
      return inner !== null && typeof inner === 'object' ? watch(inner, seen) : inner;
    },
    has(target, key) {
      if (typeof key === 'string') record.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(value, seen, where, out) {
  if (value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, seen, `${where}[${i}]`, out));
    return out;
  }
  const record = seen.get(value);
  for (const key of Object.keys(value)) {
    if (record && !record.enumerated && !record.read.has(key)) out.push(`${where}.${key}`);
    else unknownFields(value[key], seen, `${where}.${key}`, out);
  }
  return out;
}

let failures = 0;
let checked = 0;
for (const file of files) {
  let documents;
  try {
    documents = YAML.parseAllDocuments(readFileSync(file, 'utf8'));
  } catch (error) {
    console.error(`${file}: ${error.message}`);
    failures++;
    continue;
  }
  documents.forEach((document, index) => {
    const where = `${file} document ${index + 1}`;
    if (document.errors.length > 0) {
      console.error(`${where}: ${document.errors.map((e) => e.message).join('; ')}`);
      failures++;
      return;
    }
    const data = document.toJS();
    if (data === null || data === undefined) return;  // an empty document (a trailing ---)
    try {
      const cls = modelClass(data.apiVersion, data.kind);
      const model = new cls(data);
      model.validate();
      const plain = JSON.parse(JSON.stringify(data));
      const seen = new Map();
      cls.prototype.validate.call(watch(plain, seen));
      const unknown = unknownFields(plain, seen, data.kind, []);
      if (unknown.length > 0) throw new Error(`fields the schema does not know: ${unknown.join(', ')}`);
      console.log(`${where}: ${data.apiVersion} ${data.kind} ${data.metadata?.name ?? ''}: valid`);
      checked++;
    } catch (error) {
      console.error(`${where} (${data.kind ?? 'no kind'} ${data.metadata?.name ?? ''}): ${error.message}`);
      failures++;
    }
  });
}
if (checked === 0 && failures === 0) {
  console.error('no manifests found');
  process.exit(1);
}
console.log(`${checked} manifests valid, ${failures} invalid`);
process.exit(failures === 0 ? 0 : 1);
