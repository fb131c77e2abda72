// podman 4.3 (containers/image 5.23) with registry credentials, storage (vfs) under the test's
// directory: login, push, pull, a cross-repository mount, a pull-only credential, revocation and
// expiry with the message it shows, and the credential helper with only `credHelpers` in auth.json.
import { containersClientSuite } from './support/containers-client.ts';

containersClientSuite('podman');
