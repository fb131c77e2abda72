// A tiny but real OCI image layout, built by hand (no registry, no network): one gzip
// layer holding one small file, an image config, a manifest, index.json and oci-layout.
// skopeo reads it as `oci:DIR:TAG`.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BuildOciImageOptions {
  /** Tag recorded in index.json (`org.opencontainers.image.ref.name`); default 'latest'. */
  tag?: string;
  /** Path of the one file inside the layer; default 'hello.txt'. */
  fileName?: string;
  /** Its content; default a fixed greeting. Vary it to get distinct digests. */
  content?: string;
}

export interface OciImage {
  /** `oci:/abs/dir:tag`, ready for skopeo. */
  layoutRef: string;
  dir: string;
  tag: string;
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
  /** sha256 of the uncompressed layer tar (the config's rootfs.diff_ids[0]). */
  diffId: string;
}

const sha256 = (data: Uint8Array): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** One-file ustar archive (two zero blocks at the end), fixed mtime for stable digests. */
export function tarOneFile(name: string, content: Uint8Array, mtimeSeconds = 1_700_000_000): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  const header = Buffer.alloc(512, 0);
  const field = (offset: number, length: number, value: string): void => {
    header.write(value, offset, length, 'utf8');
  };
  const octal = (value: number, length: number): string => value.toString(8).padStart(length - 1, '0') + '\0';
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(content.length, 12));
  field(136, 12, octal(mtimeSeconds, 12));
  field(148, 8, '        '); // checksum placeholder: eight spaces
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  field(265, 32, 'root');
  field(297, 32, 'root');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  const padding = (512 - (content.length % 512)) % 512;
  return Buffer.concat([header, Buffer.from(content), Buffer.alloc(padding, 0), Buffer.alloc(1024, 0)]);
}

async function writeBlob(dir: string, data: Uint8Array, mediaType: string): Promise<Descriptor> {
  const digest = sha256(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
  return { mediaType, digest, size: data.length };
}

/** Builds the layout in `dir` (created if missing) and returns its `oci:` reference. */
export async function buildOciImage(dir: string, options: BuildOciImageOptions = {}): Promise<OciImage> {
  const root = resolve(dir);
  const tag = options.tag ?? 'latest';
  const fileName = options.fileName ?? 'hello.txt';
  const content = options.content ?? 'hello from the registry-token e2e harness\n';
  await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });

  const tar = tarOneFile(fileName, Buffer.from(content, 'utf8'));
  const diffId = sha256(tar);
  const layer = await writeBlob(root, gzipSync(tar, { level: 9 }), OCI_LAYER_GZIP);

  const configJson = {
    created: '2023-11-14T22:13:20Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '2023-11-14T22:13:20Z', created_by: 'registry-token e2e harness' }],
  };
  const config = await writeBlob(root, Buffer.from(JSON.stringify(configJson)), OCI_CONFIG);

  const manifestJson = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: [layer],
  };
  const manifest = await writeBlob(root, Buffer.from(JSON.stringify(manifestJson)), OCI_MANIFEST);

  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(join(root, 'index.json'), JSON.stringify(index));
  await writeFile(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  return { layoutRef: `oci:${root}:${tag}`, dir: root, tag, manifest, config, layer, diffId };
}
