//! Loading the OpenSSL `gost` engine (Debian `libengine-gost-openssl`).
//!
//! GOST R 34.10/34.11 are not in OpenSSL's default provider, and the GOST
//! provider cannot sign, so mezhved loads the engine itself at start-up and
//! makes it the default for the algorithms it implements. The `openssl`
//! crate has no engine API; the few libcrypto calls are declared here.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::OnceLock;

use super::SignatureError;

unsafe extern "C" {
    fn ENGINE_load_builtin_engines();
    fn ENGINE_by_id(id: *const c_char) -> *mut c_void;
    fn ENGINE_ctrl_cmd_string(
        e: *mut c_void,
        cmd: *const c_char,
        arg: *const c_char,
        optional: c_int,
    ) -> c_int;
    fn ENGINE_init(e: *mut c_void) -> c_int;
    fn ENGINE_set_default(e: *mut c_void, flags: u32) -> c_int;
    fn ENGINE_free(e: *mut c_void) -> c_int;
}

const ENGINE_METHOD_ALL: u32 = 0xFFFF;

static ENGINE: OnceLock<Result<(), String>> = OnceLock::new();

/// How to install the engine, for error messages.
pub const INSTALL_HINT: &str =
    "install the GOST engine (Debian/Ubuntu: apt-get install libengine-gost-openssl)";

/// Loads the engine once per process. `so_path` points at `gost.so` when it
/// is not in OpenSSL's engines directory.
pub fn load_engine(so_path: Option<&str>) -> Result<(), SignatureError> {
    ENGINE
        .get_or_init(|| unsafe { load(so_path) })
        .clone()
        .map_err(SignatureError::GostUnavailable)
}

/// Succeeds only if the engine was loaded, loading it from the default
/// location if nobody asked before.
pub fn require_engine() -> Result<(), SignatureError> {
    load_engine(None)
}

/// Whether the engine can be loaded on this machine (for tests and
/// start-up messages); never fails loudly.
pub fn available() -> bool {
    require_engine().is_ok()
}

unsafe fn load(so_path: Option<&str>) -> Result<(), String> {
    openssl::init();
    unsafe {
        ENGINE_load_builtin_engines();
        let e = match so_path {
            None => {
                let id = CString::new("gost").expect("static string");
                ENGINE_by_id(id.as_ptr())
            }
            Some(path) => {
                let dynamic = CString::new("dynamic").expect("static string");
                let e = ENGINE_by_id(dynamic.as_ptr());
                if e.is_null() {
                    return Err("OpenSSL has no dynamic engine loader".into());
                }
                let path_c =
                    CString::new(path).map_err(|_| "engine path contains NUL".to_string())?;
                let so = CString::new("SO_PATH").expect("static string");
                let load = CString::new("LOAD").expect("static string");
                if ENGINE_ctrl_cmd_string(e, so.as_ptr(), path_c.as_ptr(), 0) != 1
                    || ENGINE_ctrl_cmd_string(e, load.as_ptr(), std::ptr::null(), 0) != 1
                {
                    ENGINE_free(e);
                    return Err(format!(
                        "cannot load the GOST engine from {path}; {INSTALL_HINT}"
                    ));
                }
                e
            }
        };
        if e.is_null() {
            // Clear the error queue OpenSSL filled while searching.
            let _ = openssl::error::ErrorStack::get();
            return Err(format!(
                "the OpenSSL gost engine was not found; {INSTALL_HINT}"
            ));
        }
        if ENGINE_init(e) != 1 {
            ENGINE_free(e);
            let _ = openssl::error::ErrorStack::get();
            return Err(format!(
                "the OpenSSL gost engine failed to initialise; {INSTALL_HINT}"
            ));
        }
        if ENGINE_set_default(e, ENGINE_METHOD_ALL) != 1 {
            let _ = openssl::error::ErrorStack::get();
            return Err(
                "the OpenSSL gost engine could not be made the default for GOST algorithms".into(),
            );
        }
        // The structural reference is released; the functional reference
        // taken by ENGINE_init keeps the engine loaded for the process.
        ENGINE_free(e);
    }
    Ok(())
}
