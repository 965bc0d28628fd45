// The PostgreSQL search indexer's thread (src/search/indexer-thread.ts), on a connection of its own.
import { serveIndexer } from "../../search/indexer-thread.ts";
import { connectPostgres } from "./connect.ts";
import { createSearchIndexer } from "./search-index.ts";

serveIndexer(({ url }: { url: string }) => {
  const client = connectPostgres(url, { max: 1, backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5) });
  const indexer = createSearchIndexer(client);
  return {
    ...indexer,
    async stop() {
      await indexer.stop();
      await client.end({ timeout: 5 });
    },
  };
});
