import { Module } from '@nestjs/common';
import { IdentityApplicationModule } from '#application';
import { UsersController } from './users.controller.js';
import { UsersService } from './users.service.js';

@Module({ imports: [IdentityApplicationModule], controllers: [UsersController], providers: [UsersService] })
export class UsersModule {}
