// A TCP forwarder for the cluster profile's pods: `node tcp-forward.mjs LISTEN_HOST:PORT
// TARGET_HOST:PORT`. scripts/demo runs it as a sidecar of the agent (from the agent-node image,
// with the repository mounted at /app), so that the agent's 127.0.0.1:<registry port> is the test
// registry: the agent speaks plain HTTP only to a loopback registry, and the registry listens on
// this machine's 127.0.0.1, which a pod on the bridge reaches only through the gateway
// (`registry-forward` in scripts/testenv.d/cluster.sh).
import net from 'node:net';

function address(text, what) {
  const at = text?.lastIndexOf(':') ?? -1;
  const port = Number(text?.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`tcp-forward: ${what} must be HOST:PORT (got ${JSON.stringify(text)})`);
    process.exit(2);
  }
  return { host: text.slice(0, at), port };
}

const listen = address(process.argv[2], 'the first argument (where to listen)');
const target = address(process.argv[3], 'the second argument (where to connect)');

const server = net.createServer((client) => {
  const upstream = net.connect(target);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.on('error', (error) => {
  console.error(`tcp-forward: ${error.message}`);
  process.exit(1);
});
server.listen(listen.port, listen.host, () => {
  console.error(`tcp-forward: ${listen.host}:${listen.port} -> ${target.host}:${target.port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
