import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { BillingExportsService } from './billing-exports.service.js';
import {
  createExportRequest,
  listExportsQuery,
  type CreateExportRequest,
  type ListExportsQuery,
} from './dto/billing-export.request.js';
import {
  billingExportPageResponse,
  billingExportResponse,
  createdExportResponse,
} from './dto/billing-export.response.js';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/billing/exports')
export class BillingExportsController {
  constructor(private readonly exports: BillingExportsService) {}

  @Roles('admin', 'finance')
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary:
      'Export a closed period’s settlement lines (finance, admins): CSV, XLSX or JSON, written by a job',
    description:
      'FOCUS columns plus the Korean settlement fields, one row per priced line in line order. CSV is UTF-8 ' +
      "with a BOM for Excel, CRLF, and text that a spreadsheet would run as a formula is prefixed with '. " +
      'XLSX is one sheet with the same header and the same cell text as the CSV (inline strings; won ' +
      'amounts, quantities and the line number as numbers); a sheet holds at most 1,048,575 lines and the ' +
      'file at most 4 GiB (no ZIP64): a larger export fails with the reason. JSON is one array of objects ' +
      'keyed by column (integers as decimal strings). The file holds no timestamp: exporting the same closed ' +
      'period again gives the same bytes (same SHA-256). A finance user of an agency always exports their ' +
      'agency. 409 PERIOD_NOT_CLOSED; 422 PROGRAM_NOT_IN_AGENCY.',
  })
  @ApiAcceptedResponse({ standardSchema: createdExportResponse })
  @ApiConflictResponse({ description: 'PERIOD_NOT_CLOSED.' })
  @ApiUnprocessableEntityResponse({ description: 'PROGRAM_NOT_IN_AGENCY.' })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createExportRequest }) body: CreateExportRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.exports.create(principal, body, requestId);
  }

  @Roles('admin', 'finance')
  @Get()
  @ApiOperation({ summary: 'Exports the caller may see, newest first' })
  @ApiOkResponse({ standardSchema: billingExportPageResponse })
  list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listExportsQuery }) query: ListExportsQuery,
  ) {
    return this.exports.list(principal, query);
  }

  @Roles('admin', 'finance')
  @Get(':id')
  @ApiOperation({ summary: 'An export: status, progress, and when done its row count, totals and SHA-256' })
  @ApiOkResponse({ standardSchema: billingExportResponse })
  @ApiNotFoundResponse({ description: 'Unknown, or an export of another agency.' })
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return this.exports.get(principal, params.id);
  }

  @Roles('admin', 'finance')
  @Get(':id/download')
  @ApiOperation({
    summary: 'Download a finished export (streamed)',
    description:
      'ETag and X-Content-SHA256 carry the file’s SHA-256 (If-None-Match with it gives 304). ' +
      '409 EXPORT_NOT_READY until the export is done.',
  })
  @ApiProduces(
    'text/csv',
    'application/json',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  )
  @ApiOkResponse({ description: 'The file.' })
  @ApiNotFoundResponse({ description: 'Unknown, or an export of another agency.' })
  @ApiConflictResponse({ description: 'EXPORT_NOT_READY.' })
  async download(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    const file = await this.exports.download(principal, params.id);
    const etag = `"${file.sha256}"`;
    response.setHeader('ETag', etag);
    response.setHeader('X-Content-SHA256', file.sha256);
    response.setHeader('Cache-Control', 'private, no-cache');
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim() === etag)) {
      response.status(HttpStatus.NOT_MODIFIED).end();
      return;
    }
    response.status(HttpStatus.OK);
    response.setHeader('Content-Type', file.contentType);
    response.setHeader('Content-Length', file.bytes.toString());
    response.setHeader(
      'Content-Disposition',
      `attachment; filename="${file.filename}"; filename*=UTF-8''${encodeURIComponent(file.filename)}`,
    );
    // Chunk by chunk with backpressure: one chunk of the file in memory at a time.
    try {
      await pipeline(Readable.from(file.chunks), response);
    } catch (error) {
      // Once bytes are out the status cannot change: the client sees a short file (its SHA-256 fails).
      if (!response.headersSent) throw error;
      response.destroy();
    }
  }
}
