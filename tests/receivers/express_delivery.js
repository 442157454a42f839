const crypto = require('crypto');
const express = require('express');
const app = express();
const SECRET = 'your_webhook_signing_secret';

app.post('/webhook/delivery', express.raw({ type: '*/*' }), (req, res) => {
  const ts = req.headers['x-webhook-timestamp'];
  const sig = req.headers['x-webhook-signature'];
  const body = req.body.toString();

  if (SECRET && sig) {
    const expected =
      'sha256=' +
      crypto.createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex');
    if (!crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
      return res.status(401).send('Bad signature');
    }
  }

  const data = JSON.parse(body);
  console.log(`DLR: ${data.message_id} -> ${data.status}`);
  res.send('OK');
});

app.listen(3000);
