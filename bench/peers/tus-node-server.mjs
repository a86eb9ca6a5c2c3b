// @tus/server with @tus/file-store (package.json devDependencies; `npm ci`),
// the Node.js tus server, as a peer for bench/bench.py's tus benchmark.
//   node bench/peers/tus-node-server.mjs <port> <directory>
// Listens on 127.0.0.1:<port>, endpoint /files, files stored in <directory>.
// Defaults otherwise (FileStore writes with a stream and never fsyncs).
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const [port, directory] = process.argv.slice(2);
if (!port || !directory) {
  console.error("usage: node bench/peers/tus-node-server.mjs <port> <directory>");
  process.exit(2);
}
const server = new Server({
  path: "/files",
  datastore: new FileStore({ directory }),
});
server.listen({ host: "127.0.0.1", port: Number(port) });
console.log(`tus-node-server listening on 127.0.0.1:${port}, files in ${directory}`);
