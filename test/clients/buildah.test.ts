// buildah 1.28 (containers/image 5.23) with registry credentials, storage (vfs) under the test's
// directory: login, push, pull, a cross-repository mount, a pull-only credential, revocation and
// expiry with the message it shows.
import { containersClientSuite } from './support/containers-client.ts';

containersClientSuite('buildah');
