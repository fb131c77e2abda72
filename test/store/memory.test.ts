// The memory driver against the contract: revocations are the ledger's (a real file ledger).
import { createLedger } from '../../src/record/index.ts';
import { ledgerRevocations, openStore } from '../../src/store/index.ts';
import { recordingLogger, tempDir } from '../record/fixtures.ts';
import { SHARE, sharedStoreContract } from './contract.ts';

sharedStoreContract('memory', async () => {
  const dir = await tempDir();
  const logger = recordingLogger();
  const ledger = await createLedger({ driver: 'file', path: dir.path, maxFileBytes: 1 << 20, onUnavailable: 'reject', spoolPath: `${dir.path}/spool` }, { logger });
  const clock = { now: Date.now() };
  const store = await openStore(
    { driver: 'memory', onStoreUnavailable: 'fail-closed' },
    { replay: { capacity: 1000, perClient: SHARE }, ledgerRevocations: ledgerRevocations(ledger), now: () => clock.now, logger },
  );
  return {
    store,
    clock,
    async close() {
      await store.close();
      await ledger.close();
      await dir.remove();
    },
  };
});
