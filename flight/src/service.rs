//! The Flight SQL service: arrow-flight's `FlightSqlService` over Strata's warehouse.
//!
//! Everything an ADBC or JDBC driver does on a read-only connection is implemented: metadata (catalogs,
//! schemas, tables with their Arrow schemas, table types, SQL info, XDBC types, keys), ad-hoc queries
//! (`GetFlightInfo(CommandStatementQuery)` then `DoGet`) and prepared statements with parameters (create, bind
//! with `DoPut`, execute, close) — ADBC's Python DB-API prepares every statement, with or without parameters.
//! Writes (`DoPut` updates and ingestion) are refused, transactions and Substrait are not offered.
//!
//! Every call is authenticated first ([`crate::auth`]); query tickets are server-side handles bound to the
//! caller ([`crate::tickets`]); SQL goes through the read-only check ([`crate::readonly`]) before planning.
//! Metadata tickets are the (harmless) metadata commands themselves: `DoGet` re-checks the caller's token.

use std::pin::Pin;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError as ArrowFlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::prelude::DataFrame;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{AUTHORIZATION, Authenticator, bearer_header};
use crate::backend::{self, FlightDataStream, QueryEngine};
use crate::catalog::{self, CATALOG, TABLE_TYPES};
use crate::error::FlightError;
use crate::info;
use crate::readonly::{self, READ_ONLY};
use crate::tickets::Statements;

type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

/// Strata's Flight SQL service; `build_service` makes one (serve it with `FlightServiceServer::new`).
pub struct StrataFlightSqlService {
    auth: Authenticator,
    engine: QueryEngine,
    statements: Statements,
    sql_info: SqlInfoData,
    xdbc_types: XdbcTypeInfoData,
}

fn ipc_schema(schema: &Schema) -> Result<prost::bytes::Bytes, Status> {
    let options = IpcWriteOptions::default();
    let message: Result<IpcMessage, ArrowError> = SchemaAsIpc::new(schema, &options).try_into();
    let IpcMessage(bytes) = message.map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))?;
    Ok(bytes)
}

/// A `FlightInfo` whose ticket is the metadata command itself.
fn metadata_info(
    command: &impl ProstMessageExt,
    descriptor: FlightDescriptor,
    schema: &Schema,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = Ticket::new(command.as_any().encode_to_vec());
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode a metadata schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

fn read_only(what: &str) -> Status {
    Status::permission_denied(format!(
        "{READ_ONLY}: {what} is not allowed; tables are written by Strata jobs"
    ))
}

impl StrataFlightSqlService {
    pub(crate) fn new(engine: QueryEngine, auth: Authenticator) -> Result<Self, FlightError> {
        Ok(Self {
            auth,
            engine,
            statements: Statements::new(),
            sql_info: info::sql_info()?,
            xdbc_types: info::xdbc_types()?,
        })
    }

    fn user<T>(&self, request: &Request<T>) -> Result<String, Status> {
        self.auth.authorize(request.metadata()).inspect_err(|_| {
            tracing::debug!(remote = ?request.remote_addr(), "Flight SQL: call refused (not authenticated)");
        })
    }

    /// Keep a planned query under a fresh ticket and describe its result.
    fn statement_info(
        &self,
        user: &str,
        frame: DataFrame,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = backend::client_schema(frame.schema().as_arrow());
        let handle = self.statements.add_ticket(user, frame)?;
        // The handle is a capability: it is never logged.
        tracing::info!(user, "Flight SQL: query planned");
        let ticket = TicketStatementQuery {
            statement_handle: handle.into(),
        };
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
            .with_endpoint(endpoint)
            .with_descriptor(descriptor)
            .with_ordered(true);
        Ok(Response::new(info))
    }

    /// Plan a prepared statement with its bound values.
    async fn plan_prepared(&self, handle: &[u8], user: &str) -> Result<DataFrame, Status> {
        let prepared = self.statements.prepared(handle, user)?;
        let frame = self.engine.plan(&prepared.query).await?;
        backend::bind(frame, prepared.values.as_deref())
    }

    fn empty(schema: SchemaRef) -> Response<FlightDataStream> {
        let batch = RecordBatch::new_empty(schema.clone());
        Response::new(backend::encode_batch(schema, Ok(batch)))
    }
}

#[tonic::async_trait]
impl FlightSqlService for StrataFlightSqlService {
    type FlightService = StrataFlightSqlService;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let remote = request.remote_addr();
        let (_user, token) = self.auth.handshake(request.metadata()).inspect_err(|status| {
            tracing::info!(?remote, reason = %status.message(), "Flight SQL: handshake refused");
        })?;
        let header = bearer_header(&token)?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.into(),
        };
        let stream: HandshakeStream = Box::pin(futures::stream::iter(vec![Ok(reply)]));
        let mut response = Response::new(stream);
        response.metadata_mut().insert(AUTHORIZATION, header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let user = self.user(&request)?;
        if query.transaction_id.is_some() {
            return Err(Status::invalid_argument(
                "transactions are not supported (the service is read-only)",
            ));
        }
        let checked = readonly::check(&query.query)?;
        let frame = self.engine.plan(&checked).await?;
        if !backend::parameter_fields(&frame)?.is_empty() {
            return Err(Status::invalid_argument(
                "the query has parameters: prepare it (CreatePreparedStatement) and bind values with DoPut",
            ));
        }
        self.statement_info(&user, frame, request.into_inner())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let user = self.user(&request)?;
        let frame = self.plan_prepared(&query.prepared_statement_handle, &user).await?;
        self.statement_info(&user, frame, request.into_inner())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.into_builder().schema();
        metadata_info(&query, request.into_inner(), &schema)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.clone().into_builder().schema();
        metadata_info(&query, request.into_inner(), &schema)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.clone().into_builder().schema();
        metadata_info(&query, request.into_inner(), &schema)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.into_builder().schema();
        metadata_info(&query, request.into_inner(), &schema)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = self.sql_info.schema();
        metadata_info(&query, request.into_inner(), &schema)
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        metadata_info(&query, request.into_inner(), &info::primary_keys_schema())
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        metadata_info(&query, request.into_inner(), &info::foreign_keys_schema())
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        metadata_info(&query, request.into_inner(), &info::foreign_keys_schema())
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        metadata_info(&query, request.into_inner(), &info::foreign_keys_schema())
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = self.xdbc_types.schema();
        metadata_info(&query, request.into_inner(), &schema)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let user = self.user(&request)?;
        let frame = self.statements.take_ticket(&ticket.statement_handle, &user)?;
        Ok(Response::new(backend::execute(frame).await?))
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let user = self.user(&request)?;
        let frame = self.plan_prepared(&query.prepared_statement_handle, &user).await?;
        Ok(Response::new(backend::execute(frame).await?))
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let mut builder = query.into_builder();
        builder.append(CATALOG);
        let schema = builder.schema();
        Ok(Response::new(backend::encode_batch(schema, builder.build())))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let tables = self.engine.tables().await?;
        let mut builder = query.into_builder();
        for schema in catalog::schemas(&tables) {
            builder.append(CATALOG, schema);
        }
        let schema = builder.schema();
        Ok(Response::new(backend::encode_batch(schema, builder.build())))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let tables = catalog::filter(
            self.engine.tables().await?,
            query.catalog.as_deref(),
            query.db_schema_filter_pattern.as_deref(),
            query.table_name_filter_pattern.as_deref(),
        );
        let include_schema = query.include_schema;
        let mut builder = query.into_builder();
        if include_schema {
            for (table, schema) in self.engine.table_schemas(tables).await {
                builder
                    .append(CATALOG, &table.schema, &table.name, table.table_type(), &schema)
                    .map_err(Status::from)?;
            }
        } else {
            let none = Schema::empty();
            for table in tables {
                builder
                    .append(CATALOG, &table.schema, &table.name, table.table_type(), &none)
                    .map_err(Status::from)?;
            }
        }
        let schema = builder.schema();
        Ok(Response::new(backend::encode_batch(schema, builder.build())))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let mut builder = query.into_builder();
        for table_type in TABLE_TYPES {
            builder.append(table_type);
        }
        let schema = builder.schema();
        Ok(Response::new(backend::encode_batch(schema, builder.build())))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let builder = query.into_builder(&self.sql_info);
        let schema = builder.schema();
        Ok(Response::new(backend::encode_batch(schema, builder.build())))
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let builder = query.into_builder(&self.xdbc_types);
        let schema = builder.schema();
        Ok(Response::new(backend::encode_batch(schema, builder.build())))
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        Ok(Self::empty(info::primary_keys_schema()))
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        Ok(Self::empty(info::foreign_keys_schema()))
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        Ok(Self::empty(info::foreign_keys_schema()))
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        Ok(Self::empty(info::foreign_keys_schema()))
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        Err(Status::invalid_argument(format!(
            "this server issued no such ticket ({}); use the ticket from GetFlightInfo",
            message.type_url
        )))
    }

    async fn do_put_statement_update(
        &self,
        _query: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.user(&request)?;
        Err(read_only("an update statement"))
    }

    async fn do_put_statement_ingest(
        &self,
        _query: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.user(&request)?;
        Err(read_only("bulk ingestion"))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.user(&request)?;
        Err(read_only("a prepared update"))
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let user = self.user(&request)?;
        let handle = query.prepared_statement_handle;
        // Refuse a foreign or unknown handle before reading the client's data.
        self.statements.prepared(&handle, &user)?;
        let batches: Vec<RecordBatch> =
            FlightRecordBatchStream::new_from_flight_data(request.into_inner().map_err(ArrowFlightError::from))
                .try_collect()
                .await
                .map_err(|e| Status::invalid_argument(format!("cannot read the bound parameter values: {e}")))?;
        let values = backend::parameter_row(&batches)?;
        tracing::debug!(user, parameters = values.len(), "Flight SQL: parameters bound");
        self.statements.bind(&handle, &user, values)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle),
        })
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let user = self.user(&request)?;
        if query.transaction_id.is_some() {
            return Err(Status::invalid_argument(
                "transactions are not supported (the service is read-only)",
            ));
        }
        let checked = readonly::check(&query.query)?;
        // Plan now: errors surface at prepare time, and the client learns the result and parameter schemas.
        let frame = self.engine.plan(&checked).await?;
        let dataset_schema = backend::client_schema(frame.schema().as_arrow());
        let parameters = backend::parameter_fields(&frame)?;
        let parameter_schema = if parameters.is_empty() {
            prost::bytes::Bytes::new()
        } else {
            ipc_schema(&backend::parameter_schema(&parameters))?
        };
        let handle = self.statements.add_prepared(&user, checked)?;
        tracing::info!(user, parameters = parameters.len(), "Flight SQL: statement prepared");
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc_schema(&dataset_schema)?,
            parameter_schema,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let user = self.user(&request)?;
        self.statements.close(&query.prepared_statement_handle, &user)
    }

    async fn register_sql_info(&self, id: i32, _result: &SqlInfo) {
        tracing::debug!(
            id,
            "Flight SQL: register_sql_info ignored (the server's SQL info is fixed)"
        );
    }
}
