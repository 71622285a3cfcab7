//! `drake-spin-serve [--addr A] [--env K=V]… COMPONENT`: serve one
//! `wasi:http/incoming-handler` component over HTTP/1.1, a fresh instance
//! per request — what `wasmtime serve -S cli` does, for the tests of
//! drake's Spin components (no `spin` CLI is installable from the
//! registries here).
//!
//! It is wasmtime-wasi-http's own host (the `proxy` world plus the WASI
//! command interfaces, outgoing requests through its client with the
//! guest's timeouts), built with the workspace's one wasmtime instead of
//! a second wasmtime through `cargo install wasmtime-cli`. Like `wasmtime
//! serve`, it prints `Serving HTTP on http://<addr>/` on stderr once
//! listening.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use hyper::server::conn::http1;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// One request's store data.
struct Client {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for Client {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Client {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// The component, linked once, and its environment.
struct Server {
    pre: ProxyPre<Client>,
    env: Vec<(String, String)>,
}

impl Server {
    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
        let wasi = WasiCtx::builder().inherit_stderr().envs(&self.env).build();
        let mut store = Store::new(
            self.pre.engine(),
            Client {
                wasi,
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
            },
        );
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        // The guest may go on writing the body after it sent the head.
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(anyhow::anyhow!("the guest answered an error: {code:?}")),
            Err(_) => match task.await {
                Ok(Ok(())) => bail!("the guest never set a response"),
                Ok(Err(trap)) => Err(anyhow::anyhow!("the guest trapped: {trap:?}")),
                Err(panic) => Err(panic.into()),
            },
        }
    }
}

/// The command line.
struct Args {
    /// Listen address.
    addr: String,
    /// Every `--env K=V`.
    env: Vec<(String, String)>,
    /// The component file.
    component: String,
}

fn arguments() -> anyhow::Result<Args> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut env = Vec::new();
    let mut component = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().context("--addr needs an address")?,
            "--env" => {
                let pair = args.next().context("--env needs K=V")?;
                let (k, v) = pair.split_once('=').context("--env needs K=V")?;
                env.push((k.to_owned(), v.to_owned()));
            }
            other if component.is_none() && !other.starts_with('-') => {
                component = Some(other.to_owned());
            }
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let component =
        component.context("usage: drake-spin-serve [--addr A] [--env K=V]... COMPONENT")?;
    Ok(Args {
        addr,
        env,
        component,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args {
        addr,
        env,
        component: path,
    } = arguments()?;
    let engine = Engine::default();
    let component = Component::from_file(&engine, &path)
        .map_err(|e| anyhow::anyhow!("loading {path}: {e:?}"))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
    let server = Arc::new(Server { pre, env });
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    eprintln!("Serving HTTP on http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let server = server.clone();
        tokio::task::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { server.handle(request).await }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("drake-spin-serve: {e}");
            }
        });
    }
}
