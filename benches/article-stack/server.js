// The article's stack for a side-by-side measurement (not part of Hail): NestJS 11 gateway,
// socket.io 4.8, @socket.io/redis-adapter; riders join a per-ride room, drivers emit positions.
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { Module } = require('@nestjs/common');
const { WebSocketGateway, SubscribeMessage, WebSocketServer } = require('@nestjs/websockets');
const { IoAdapter } = require('@nestjs/platform-socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

class RedisIoAdapter extends IoAdapter {
  async connectToRedis(url) {
    const pub = createClient({ url });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    this.adapterConstructor = createAdapter(pub, sub);
  }
  createIOServer(port, options) {
    const server = super.createIOServer(port, options);
    server.adapter(this.adapterConstructor);
    return server;
  }
}

class LocationGateway {
  handleSubscribe(client, body) { client.join('ride:' + body.rideId); return 'ok'; }
  handlePosition(client, body) {
    if (typeof body !== 'object' || typeof body.lat !== 'number' || typeof body.lng !== 'number') return;
    this.server.to('ride:' + body.rideId).emit('position', body);
  }
}
WebSocketServer()(LocationGateway.prototype, 'server');
for (const [name, event] of [['handleSubscribe', 'subscribe'], ['handlePosition', 'position']]) {
  SubscribeMessage(event)(LocationGateway.prototype, name, Object.getOwnPropertyDescriptor(LocationGateway.prototype, name));
}
WebSocketGateway()(LocationGateway);
class AppModule {}
Module({ providers: [LocationGateway] })(AppModule);

(async () => {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  const adapter = new RedisIoAdapter(app);
  await adapter.connectToRedis(process.env.REDIS_URL);
  app.useWebSocketAdapter(adapter);
  await app.listen(Number(process.env.PORT), '127.0.0.1');
  console.log('listening', process.env.PORT);
})();
