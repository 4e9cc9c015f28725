// Validates rendered manifests against the OpenAPI schemas of npm's
// kubernetes-models (types, required fields, formats); it does not reject
// unknown fields, which validate_manifests.py does.
// Usage: NODE_PATH=<node_modules> node validate_npm.mjs NAME=FILE.yaml ...
// A self-check first: a Deployment without its required selector and a
// Service with a string port must be rejected.
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";

// kubernetes-models 5 is ESM only; its modules are imported by file.
const modules = process.env.NODE_PATH.split(":")[0];
const load = (...p) => import(pathToFileURL(path.join(modules, ...p)).href);
const YAML = await load("yaml", "dist", "index.js");

async function modelFor(doc) {
  const parts = doc.apiVersion.split("/"); // ["apps", "v1"] or ["v1"]
  const mod = await load("kubernetes-models", ...parts, "index.js");
  const cls = mod[doc.kind];
  if (!cls) throw new Error(`no kubernetes-models class for ${doc.apiVersion} ${doc.kind}`);
  return cls;
}

async function validate(doc) {
  const cls = await modelFor(doc);
  // kustomize wraps long base64 values of generated Secrets over lines; the
  // API server's decoder (Go's encoding/base64) ignores line breaks, the
  // schema's "byte" format does not: compare what the server sees.
  if (doc.kind === "Secret" && doc.data)
    for (const k of Object.keys(doc.data)) doc.data[k] = doc.data[k].replace(/[\r\n]/g, "");
  new cls(doc).validate();
}

async function expectRejected(doc, what) {
  try {
    await validate(doc);
  } catch (e) {
    return;
  }
  console.log(`FAIL: self-check: accepted a broken manifest (${what})`);
  process.exit(1);
}

await validate({ apiVersion: "v1", kind: "Service", metadata: { name: "x" }, spec: { ports: [{ port: 80 }] } });
await expectRejected({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" },
                 spec: { template: { spec: { containers: [{ name: "c" }] } } } }, "no selector");
await expectRejected({ apiVersion: "v1", kind: "Service", metadata: { name: "x" },
                 spec: { ports: [{ port: "eighty" }] } }, "string port");

let total = 0;
for (const arg of process.argv.slice(2)) {
  const [name, file] = arg.split("=");
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJS()).filter(Boolean);
  for (const doc of docs) {
    try {
      await validate(doc);
    } catch (e) {
      console.log(`FAIL: k8s/${name}: ${doc.kind}/${doc.metadata?.name}: ${e.message}`);
      process.exit(1);
    }
  }
  total += docs.length;
  console.log(`k8s/${name}: ${docs.length} objects valid (kubernetes-models)`);
}
if (total === 0) {
  console.log("FAIL: nothing validated");
  process.exit(1);
}
console.log(`ok: ${total} objects valid`);
