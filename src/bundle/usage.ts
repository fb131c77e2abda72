// The bundle commands' usage lines, apart from their code so `registry-token --help` loads none of it.
export const BUNDLE_USAGE = `  registry-token bundle trust --out DIR [--config FILE] [--created TIME] [--service NAME] [--realm URL] [--registry-dir DIR] [--force]
  registry-token bundle credentials --out DIR --subject S --scope SCOPE... --expires DURATION [--plan P] [--license L] [--tenant T] [--count N | --name NAME...] [--config FILE] [--created TIME] [--force]
  registry-token bundle credentials --url URL --issuer AUTHORITY --client-id ID [--client-secret-file FILE] [--authority-scope S] [--insecure] --out DIR --subject S ...   (order from a running service)
  registry-token bundle credentials --answer FILE|- --out DIR [--force]   (write an answer of POST /admin/bundles/credentials)
  registry-token bundle verify DIR --jwks FILE`;
