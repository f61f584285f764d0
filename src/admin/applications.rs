//! `/admin/api/applications`: register, edit, delete applications and rotate their
//! secrets. A secret appears in the response that creates or rotates it, never again.

use actix_web::{web, HttpResponse, HttpResponseBuilder};
use serde::Serialize;

use super::staff::Staff;
use super::{audit_admin, flag, list_param, uri_list_param, Listing, PageQuery};
use crate::auth::client_cache::change_applications;
use crate::db::Writer;
use crate::domain::{ClientType, GrantType, IdTokenAlg};
use crate::error::ApiError;
use crate::manage::{self, ApplicationSpec};
use crate::params::Params;
use crate::respond::no_store;
use crate::state::AppState;
use crate::store::applications::{Application, ApplicationChanges};
use crate::tokens::random::ClientSecret;

#[derive(Serialize)]
pub struct ApplicationView {
    pub client_id: String,
    pub name: String,
    pub client_type: String,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub skip_authorization: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub id_token_signed_response_alg: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Application> for ApplicationView {
    fn from(app: &Application) -> Self {
        Self {
            client_id: app.client_id.clone(),
            name: app.name.clone(),
            client_type: app.client_type.clone(),
            grant_types: app.grants().into_iter().map(str::to_owned).collect(),
            redirect_uris: app.redirect_uri_list().into_iter().map(str::to_owned).collect(),
            skip_authorization: app.skip_authorization,
            post_logout_redirect_uris: app
                .post_logout_redirect_uri_list()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            id_token_signed_response_alg: app.id_token_signed_response_alg.clone(),
            created_at: app.created_at,
            updated_at: app.updated_at,
        }
    }
}

/// The view with the secret, in the one response that may carry it.
#[derive(Serialize)]
struct WithSecret {
    #[serde(flatten)]
    application: ApplicationView,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<ClientSecret>,
}

fn grants(params: &Params) -> Result<Option<Vec<GrantType>>, ApiError> {
    list_param(params, "grant_types")
        .map(|names| {
            GrantType::parse_list(&names.join(" ")).map_err(|e| ApiError::invalid_request(e.to_string()))
        })
        .transpose()
}

fn id_token_alg(params: &Params) -> Result<Option<IdTokenAlg>, ApiError> {
    params
        .get("id_token_signed_response_alg")
        .map(|raw| IdTokenAlg::parse(raw).map_err(|e| ApiError::invalid_request(e.to_string())))
        .transpose()
}

pub async fn list(
    _staff: Staff,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page();
    let (apps, total) = crate::db::run(&state.pool, move |conn| Ok(Application::page(conn, page)?)).await?;
    Ok(HttpResponse::Ok().json(Listing { items: apps.iter().map(ApplicationView::from).collect(), total }))
}

pub async fn create(
    staff: Staff,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client_type = match params.get("client_type") {
        Some(raw) => ClientType::parse(raw).map_err(|e| ApiError::invalid_request(e.to_string()))?,
        None => ClientType::Confidential,
    };
    let spec = ApplicationSpec {
        name: params.require("name")?.to_owned(),
        client_type,
        grant_types: grants(&params)?.unwrap_or_default(),
        redirect_uris: uri_list_param(&params, "redirect_uris").unwrap_or_default(),
        skip_authorization: flag(&params, "skip_authorization")?.unwrap_or(false),
        owner_id: Some(staff.user.id),
        post_logout_redirect_uris: uri_list_param(&params, "post_logout_redirect_uris").unwrap_or_default(),
        id_token_signed_response_alg: id_token_alg(&params)?.unwrap_or_default(),
    };
    let created = state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                let created = manage::create_application(conn, &spec)?;
                audit_admin(
                    conn,
                    &staff,
                    "application.create",
                    "application",
                    &created.client_id,
                    &spec.name,
                )?;
                Ok::<_, ApiError>(created)
            })
        })
        .await?;
    let body = WithSecret {
        application: ApplicationView::from(&created.application),
        client_secret: created.client_secret,
    };
    Ok(no_store(&mut HttpResponse::Created()).json(body))
}

pub async fn show(
    _staff: Staff,
    client_id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client_id = client_id.into_inner();
    let app = crate::db::run(&state.pool, move |conn| Ok(Application::find_by_client_id(conn, &client_id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(ApplicationView::from(&app)))
}

/// PATCH: `name`, `grant_types`, `redirect_uris`, `skip_authorization`,
/// `post_logout_redirect_uris`, `id_token_signed_response_alg`; the client type is fixed
/// at creation (a public client has no secret to become confidential with).
pub async fn update(
    staff: Staff,
    client_id: web::Path<String>,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client_id = client_id.into_inner();
    let grant_types = grants(&params)?;
    let redirect_uris = uri_list_param(&params, "redirect_uris");
    let skip_authorization = flag(&params, "skip_authorization")?;
    let post_logout_redirect_uris = uri_list_param(&params, "post_logout_redirect_uris");
    let alg = id_token_alg(&params)?;
    let name = params.get("name").map(str::to_owned);
    let new_type = params
        .get("client_type")
        .map(|t| ClientType::parse(t).map_err(|e| ApiError::invalid_request(e.to_string())));
    let new_type = new_type.transpose()?;
    let (updated, unconfirmed) = change(&state, move |conn| {
        let app = Application::find_by_client_id(conn, &client_id)?.ok_or(ApiError::NotFound)?;
        if new_type.is_some_and(|t| t != app.client_type()) {
            return Err(ApiError::invalid_request(
                "The client type cannot change; register a new application instead.",
            ));
        }
        let spec = ApplicationSpec {
            name: name.unwrap_or_else(|| app.name.clone()),
            client_type: app.client_type(),
            grant_types: match grant_types {
                Some(g) => g,
                None => GrantType::parse_list(&app.grant_types).map_err(ApiError::internal)?,
            },
            redirect_uris: redirect_uris
                .unwrap_or_else(|| app.redirect_uri_list().into_iter().map(str::to_owned).collect()),
            skip_authorization: skip_authorization.unwrap_or(app.skip_authorization),
            owner_id: app.owner_id,
            post_logout_redirect_uris: post_logout_redirect_uris.unwrap_or_else(|| {
                app.post_logout_redirect_uri_list().into_iter().map(str::to_owned).collect()
            }),
            id_token_signed_response_alg: alg.unwrap_or_else(|| app.id_token_alg()),
        };
        manage::check_spec(&spec)?;
        let grants: Vec<&str> = spec.grant_types.iter().map(|g| g.as_str()).collect();
        let changes = ApplicationChanges {
            name: spec.name.trim(),
            grant_types: &grants.join(" "),
            redirect_uris: &spec.redirect_uris.join(" "),
            skip_authorization: spec.skip_authorization,
            post_logout_redirect_uris: &spec.post_logout_redirect_uris.join(" "),
            id_token_signed_response_alg: spec.id_token_signed_response_alg.as_str(),
            updated_at: crate::time::now(),
        };
        let updated = Application::update(conn, app.id, &changes)?;
        audit_admin(conn, &staff, "application.update", "application", &app.client_id, "")?;
        Ok(updated)
    })
    .await?;
    Ok(unconfirmed_header(HttpResponse::Ok(), unconfirmed).json(ApplicationView::from(&updated)))
}

/// DELETE: the application goes, and with it (by cascade) every token and code it held.
pub async fn delete(
    staff: Staff,
    client_id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client_id = client_id.into_inner();
    let ((), unconfirmed) = change(&state, move |conn| {
        let app = Application::find_by_client_id(conn, &client_id)?.ok_or(ApiError::NotFound)?;
        Application::delete(conn, app.id)?;
        audit_admin(conn, &staff, "application.delete", "application", &app.client_id, &app.name)?;
        Ok(())
    })
    .await?;
    Ok(unconfirmed_header(HttpResponse::NoContent(), unconfirmed).finish())
}

pub async fn rotate_secret(
    staff: Staff,
    client_id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client_id = client_id.into_inner();
    let ((app, secret), unconfirmed) = change(&state, move |conn| {
        let secret = manage::rotate_secret(conn, &client_id)?;
        audit_admin(conn, &staff, "application.rotate_secret", "application", &client_id, "")?;
        let app = Application::find_by_client_id(conn, &client_id)?.ok_or(ApiError::NotFound)?;
        Ok((app, secret))
    })
    .await?;
    let body = WithSecret { application: ApplicationView::from(&app), client_secret: Some(secret) };
    Ok(no_store(&mut unconfirmed_header(HttpResponse::Ok(), unconfirmed)).json(body))
}

/// Runs `work` on the writer within `change_applications` (a transaction after which
/// every running server forgets the applications it cached); answers its result and
/// how many servers did not confirm (see `unconfirmed_header`).
async fn change<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&mut Writer<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<(T, usize), ApiError> {
    let url = state.settings.database_url.clone();
    state.writes.run(move |conn| change_applications(&url, conn, work)).await
}

/// Tells the caller how many running servers did not confirm that they forgot the
/// changed application within `change_applications`' wait (stuck or cut off: they
/// stopped answering from their cache, but the operator should look at them). The
/// console shows it; absent when every server confirmed.
fn unconfirmed_header(mut response: HttpResponseBuilder, unconfirmed: usize) -> HttpResponseBuilder {
    if unconfirmed > 0 {
        response.insert_header((UNCONFIRMED_SERVERS, unconfirmed.to_string()));
    }
    response
}

pub const UNCONFIRMED_SERVERS: &str = "Portcullis-Unconfirmed-Servers";
