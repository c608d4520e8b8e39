import { Module } from '@nestjs/common';
import { IdentityApplicationModule } from '#application';
import { SessionController } from './session.controller.js';
import { SessionService } from './session.service.js';

@Module({
  imports: [IdentityApplicationModule],
  controllers: [SessionController],
  providers: [SessionService],
})
export class SessionModule {}
