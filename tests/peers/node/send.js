// Sends HL7 messages to an MLLP listener with node-hl7-client, one at a time, each after the
// previous one's ACK; prints "MSA-1 MSA-2" for every ACK. Usage: node send.js PORT MESSAGES.json
"use strict";
const fs = require("fs");
const { Client, Message } = require("node-hl7-client");

const port = Number(process.argv[2]);
const texts = JSON.parse(fs.readFileSync(process.argv[3], "utf-8"));
const client = new Client({ host: "127.0.0.1" });
let waiting = null;
const conn = client.createConnection({ port, waitAck: true, maxConnectionAttempts: 1 }, async (res) => {
  const msg = res.getMessage();
  process.stdout.write(`${msg.get("MSA.1").toString()} ${msg.get("MSA.2").toString()}\n`);
  if (waiting) { const w = waiting; waiting = null; w(); }
});

(async () => {
  const timer = setTimeout(() => { process.stderr.write("no ACK within 30 s\n"); process.exit(2); }, 30000);
  for (const text of texts) {
    const acked = new Promise((resolve) => { waiting = resolve; });
    await conn.sendMessage(new Message({ text }));
    await acked;
  }
  clearTimeout(timer);
  await conn.close();
  process.exit(0);
})().catch((err) => { process.stderr.write(`${err}\n`); process.exit(1); });
