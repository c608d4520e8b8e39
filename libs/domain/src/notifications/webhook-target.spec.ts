import { addressRefusal, webhookUrlRefusal } from './webhook-target.js';

const strict = { allowLoopbackHttp: false };
const dev = { allowLoopbackHttp: true };

describe('webhook targets (issue 13 item 6)', () => {
  it.each([
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    'fd00::1',
    'fe80::1',
    '::',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
    '2002:a9fe:a9fe::1',
  ])('refuses %s always', (address) => {
    expect(addressRefusal(address, strict)).not.toBeNull();
    expect(addressRefusal(address, dev)).not.toBeNull();
  });

  it('refuses loopback unless the deployment allows it for development', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      expect(addressRefusal(address, strict)).toMatch(/loopback/);
      expect(addressRefusal(address, dev)).toBeNull();
    }
  });

  it('allows public addresses', () => {
    for (const address of ['203.0.114.7', '8.8.8.8', '2600:1f18::1', '1.1.1.1']) {
      expect(addressRefusal(address, strict)).toBeNull();
    }
  });

  it('wants https, and http only to loopback in development', () => {
    expect(webhookUrlRefusal('https://hooks.example.kr/x', strict)).toBeNull();
    expect(webhookUrlRefusal('http://hooks.example.kr/x', strict)).toBe('must be an https:// URL');
    expect(webhookUrlRefusal('http://hooks.example.kr/x', dev)).toMatch(/only to a loopback address/);
    expect(webhookUrlRefusal('http://127.0.0.1:9000/x', dev)).toBeNull();
    expect(webhookUrlRefusal('http://localhost:9000/x', dev)).toBeNull();
    expect(webhookUrlRefusal('http://127.0.0.1:9000/x', strict)).toBe('must be an https:// URL');
    expect(webhookUrlRefusal('ftp://hooks.example.kr/x', strict)).toBe('must be an https:// URL');
    expect(webhookUrlRefusal('not a url', strict)).toMatch(/absolute/);
  });

  it('sees through spellings of the same address (decimal, hex, mapped IPv6)', () => {
    for (const url of [
      'https://2852039166/', // 169.254.169.254 as one number
      'https://0xa9.0xfe.0xa9.0xfe/',
      'https://[::ffff:169.254.169.254]/',
      'https://169.254.169.254./',
    ]) {
      expect(webhookUrlRefusal(url, strict)).toMatch(/public address/);
    }
  });
});
