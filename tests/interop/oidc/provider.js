// SPDX-License-Identifier: MIT
// oidc-provider (OpenID Certified) as a loopback test peer for Tessera's OAuth/OIDC profile.
//
//   node provider.js [--prefix /realms/acme] [--client-id ID] [--access-ttl SECONDS]
//                    [--dpop] [--dpop-require-nonce] [--dpop-bound-client]
//
// DPoP (RFC 9449) is off unless asked for: --dpop turns it on (ES256/EdDSA proofs, server
// nonces available, discovery lists dpop_signing_alg_values_supported); --dpop-require-nonce
// also makes every proof carry a nonce (the first token or resource request of a client is
// answered use_dpop_nonce); --dpop-bound-client registers the client with
// dpop_bound_access_tokens, so a token request without a proof is refused. Both imply --dpop.
//
// Listens on 127.0.0.1 with a port the kernel chooses and prints
// "listening on http://127.0.0.1:PORT" (the line tests/common/listeningprocess.h waits for),
// then "issuer ISSUER". The issuer is http://127.0.0.1:PORT followed by the prefix, so an
// issuer with a path (Keycloak's /realms/NAME) is served the way such providers serve it.
// State lives in memory (oidc-provider's default adapter) and dies with the process.
// Events the tests may assert on are printed as "event NAME ..." lines on stdout.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

function parseArguments(argv) {
  const options = {
    prefix: '', clientId: 'tessera-native', accessTtl: 300, dpop: false, dpopRequireNonce: false,
    dpopBoundClient: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--prefix':
        if (!value || !value.startsWith('/') || value.endsWith('/')) {
          throw new Error('--prefix takes a path like /realms/acme (leading slash, none trailing)');
        }
        options.prefix = value;
        i += 1;
        break;
      case '--client-id':
        if (!value) throw new Error('--client-id takes a value');
        options.clientId = value;
        i += 1;
        break;
      case '--access-ttl':
        options.accessTtl = Number.parseInt(value, 10);
        if (!(options.accessTtl > 0)) throw new Error('--access-ttl takes a positive number of seconds');
        i += 1;
        break;
      case '--dpop':
        options.dpop = true;
        break;
      case '--dpop-require-nonce':
        options.dpop = true;
        options.dpopRequireNonce = true;
        break;
      case '--dpop-bound-client':
        options.dpop = true;
        options.dpopBoundClient = true;
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return options;
}

function configuration(options) {
  return {
    clients: [{
      client_id: options.clientId,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      // RFC 8252 §7.3: a loopback redirect matches any port.
      redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback'],
      ...(options.dpopBoundClient ? { dpop_bound_access_tokens: true } : {}),
    }],
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      userinfo: { enabled: true },
      dPoP: {
        enabled: options.dpop,
        ...(options.dpop ? { nonceSecret: randomBytes(32) } : {}),
        requireNonce: () => options.dpopRequireNonce,
      },
    },
    // The default issues a refresh token only for offline_access with prompt=consent.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: { AccessToken: options.accessTtl },
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, preferred_username: sub }),
    }),
    claims: { openid: ['sub'], profile: ['preferred_username'] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
  };
}

function main() {
  const options = parseArguments(process.argv.slice(2));
  const server = http.createServer();
  server.listen(0, '127.0.0.1', () => {
    const origin = `http://127.0.0.1:${server.address().port}`;
    const issuer = origin + options.prefix;
    const provider = new Provider(issuer, configuration(options));
    for (const name of ['grant.revoked', 'refresh_token.consumed', 'grant.success']) {
      provider.on(name, () => console.log(`event ${name}`));
    }
    // Every refused token request with its OAuth error code (no token or code in it): the
    // device flow's polls show as "event grant.error authorization_pending".
    provider.on('grant.error', (ctx, err) => console.log(`event grant.error ${err.error}`));
    // Refused resource requests (userinfo): "event userinfo.error invalid_token" and the like.
    provider.on('userinfo.error', (ctx, err) => console.log(`event userinfo.error ${err.error}`));
    const callback = provider.callback();
    server.on('request', (req, res) => {
      if (!options.prefix) {
        callback(req, res);
        return;
      }
      // oidc-provider builds its URLs from originalUrl and routes on url.
      const { prefix } = options;
      if (req.url === prefix || req.url.startsWith(`${prefix}/`) || req.url.startsWith(`${prefix}?`)) {
        req.originalUrl = req.url;
        req.url = req.url.slice(prefix.length) || '/';
        callback(req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    });
    console.log(`listening on ${origin}`);
    console.log(`issuer ${issuer}`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections(); // keep-alive connections would hold close() open
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
