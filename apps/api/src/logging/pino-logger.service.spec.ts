import pino from 'pino';
import { PinoLoggerService } from './pino-logger.service.js';

function serviceWithLines(): { service: PinoLoggerService; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const root = pino(
    { level: 'trace' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { service: new PinoLoggerService(root), lines };
}

describe('PinoLoggerService', () => {
  it('maps each Nest level to a pino level', () => {
    const { service, lines } = serviceWithLines();
    service.verbose('v');
    service.debug('d');
    service.log('l');
    service.warn('w');
    service.error('e');
    service.fatal('f');
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [10, 'v'],
      [20, 'd'],
      [30, 'l'],
      [40, 'w'],
      [50, 'e'],
      [60, 'f'],
    ]);
  });

  it('takes the last parameter as the context and formats the others into the message', () => {
    const { service, lines } = serviceWithLines();
    service.log('granted %s GPU-seconds', '3600', 'GrantUseCase');
    expect(lines[0]).toMatchObject({ context: 'GrantUseCase', msg: 'granted 3600 GPU-seconds' });
  });

  it('merges an object message into the line and keeps the message after it', () => {
    const { service, lines } = serviceWithLines();
    service.warn({ errorId: 'e-1', attempts: 3 }, 'retrying', 'http');
    expect(lines[0]).toMatchObject({
      level: 40,
      context: 'http',
      errorId: 'e-1',
      attempts: 3,
      msg: 'retrying',
    });
  });

  it('logs an Error message as err with its stack', () => {
    const { service, lines } = serviceWithLines();
    service.error(new Error('boom'), 'Worker');
    expect(lines[0]).toMatchObject({ level: 50, context: 'Worker', err: { type: 'Error', message: 'boom' } });
    expect((lines[0]?.err as { stack: string }).stack).toContain('boom');
  });

  it("turns Nest's error(message, stack, context) into err with that stack", () => {
    const { service, lines } = serviceWithLines();
    const stack = 'Error: lost\n    at handler (file.js:1:1)';
    service.error('lost', stack, 'ExceptionsHandler');
    expect(lines[0]).toMatchObject({
      level: 50,
      context: 'ExceptionsHandler',
      err: { message: 'lost', stack },
    });
    expect(lines[0]?.msg).toBe('lost');
  });
});
