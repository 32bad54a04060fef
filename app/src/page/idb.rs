//! Models kept in this browser (IndexedDB), so an adapted model survives a page reload
//! without leaving the machine. One object store; each record carries its own key, name,
//! time and size next to the bundle bytes.
//!
//! Only web-sys features the app already had are used: a new one would rebuild burn's
//! WebGPU stack (see docs/DESIGN.md). Hence out-of-line keys (no IdbObjectStoreParameters)
//! and records read with `getAll` (no cursors).

use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransaction, IdbTransactionMode, IdbVersionChangeEvent};

use crate::js::message as js_message;
use crate::js::{get, get_f64, get_string, obj};

const DB: &str = "brainfm";
const VERSION: u32 = 1;
const STORE: &str = "models";

/// A kept model, without its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    pub key: f64,
    pub name: String,
    pub saved_ms: f64,
    pub size: usize,
}

fn unavailable(e: impl std::fmt::Display) -> String {
    format!("this browser does not let the page keep data ({e}); private windows often forbid it")
}

async fn request(req: &IdbRequest) -> Result<JsValue, String> {
    let wait = Promise::new(&mut |resolve: Function, reject: Function| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    let out = JsFuture::from(wait).await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    match out {
        Ok(_) => req.result().map_err(|e| js_message(&e)),
        Err(_) => Err("the browser refused the request".into()),
    }
}

async fn committed(tx: &IdbTransaction) -> Result<(), String> {
    let wait = Promise::new(&mut |resolve: Function, reject: Function| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onerror(Some(&reject));
        tx.set_onabort(Some(&reject));
    });
    JsFuture::from(wait)
        .await
        .map(|_| ())
        .map_err(|_| "the browser did not store it (is the disk full?)".to_string())
}

async fn open() -> Result<IdbDatabase, String> {
    let factory = web_sys::window()
        .ok_or("no browser window")?
        .indexed_db()
        .map_err(|e| unavailable(js_message(&e)))?
        .ok_or_else(|| unavailable("no IndexedDB"))?;
    let req = factory
        .open_with_u32(DB, VERSION)
        .map_err(|e| unavailable(js_message(&e)))?;
    // Version 1 is the only one: an upgrade always starts from an empty database.
    let target = req.clone();
    let on_upgrade = Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |_| {
        if let Ok(db) = target.result() {
            let _ = db
                .unchecked_into::<IdbDatabase>()
                .create_object_store(STORE);
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let result = request(&req).await;
    req.set_onupgradeneeded(None);
    drop(on_upgrade);
    Ok(result.map_err(unavailable)?.unchecked_into())
}

fn store(
    db: &IdbDatabase,
    mode: IdbTransactionMode,
) -> Result<(IdbTransaction, web_sys::IdbObjectStore), String> {
    let tx = db
        .transaction_with_str_and_mode(STORE, mode)
        .map_err(|e| js_message(&e))?;
    let store = tx.object_store(STORE).map_err(|e| js_message(&e))?;
    Ok((tx, store))
}

/// Keep `bytes` under `name`; returns the new record's key.
pub async fn save(name: &str, bytes: &[u8]) -> Result<f64, String> {
    let db = open().await?;
    let key = js_sys::Date::now();
    let record = obj(&[
        ("key", key.into()),
        ("name", name.into()),
        ("saved", key.into()),
        ("size", (bytes.len() as f64).into()),
        ("bytes", Uint8Array::from(bytes).into()),
    ]);
    let (tx, store) = store(&db, IdbTransactionMode::Readwrite)?;
    store
        .put_with_key(&record, &key.into())
        .map_err(|e| js_message(&e))?;
    committed(&tx).await?;
    db.close();
    Ok(key)
}

/// Every kept model, oldest first.
pub async fn list() -> Result<Vec<Kept>, String> {
    let db = open().await?;
    let (_tx, store) = store(&db, IdbTransactionMode::Readonly)?;
    let all = request(&store.get_all().map_err(|e| js_message(&e))?).await?;
    db.close();
    let mut out: Vec<Kept> = Array::from(&all)
        .iter()
        .map(|r| Kept {
            key: get_f64(&r, "key"),
            name: get_string(&r, "name"),
            saved_ms: get_f64(&r, "saved"),
            size: get_f64(&r, "size") as usize,
        })
        .collect();
    out.sort_by(|a, b| a.key.total_cmp(&b.key));
    Ok(out)
}

/// The bundle bytes of the kept model `key`.
pub async fn load(key: f64) -> Result<Vec<u8>, String> {
    let db = open().await?;
    let (_tx, store) = store(&db, IdbTransactionMode::Readonly)?;
    let record = request(&store.get(&key.into()).map_err(|e| js_message(&e))?).await?;
    db.close();
    get(&record, "bytes")
        .dyn_into::<Uint8Array>()
        .map(|a| a.to_vec())
        .map_err(|_| "that model is no longer kept in this browser".to_string())
}

pub async fn delete(key: f64) -> Result<(), String> {
    let db = open().await?;
    let (tx, store) = store(&db, IdbTransactionMode::Readwrite)?;
    store.delete(&key.into()).map_err(|e| js_message(&e))?;
    committed(&tx).await?;
    db.close();
    Ok(())
}
