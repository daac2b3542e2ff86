//! Who is logged in, as the whole page sees it: the auth actions and the resources they refresh.

use leptos::prelude::*;

use crate::api::{get_me, take_flash, Login, Logout, Signup};
use crate::domain::{AppError, Flash, Identity};

#[derive(Clone, Copy)]
pub struct Auth {
    pub signup: ServerAction<Signup>,
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
    /// `Ok(None)` when nobody is logged in.
    pub me: Resource<Result<Option<Identity>, AppError>>,
    /// The refused no-JS form of the previous request, if any; read once per page load.
    pub flash: Resource<Option<Flash>>,
}

impl Auth {
    pub fn provide() -> Self {
        let signup = ServerAction::<Signup>::new();
        let login = ServerAction::<Login>::new();
        let logout = ServerAction::<Logout>::new();
        let me = Resource::new(
            move || {
                (
                    signup.version().get(),
                    login.version().get(),
                    logout.version().get(),
                )
            },
            |_| async {
                match get_me().await {
                    Ok(identity) => Ok(Some(identity)),
                    Err(AppError::Unauthorized { .. }) => Ok(None),
                    Err(err) => Err(err),
                }
            },
        );
        // A page that cannot read the flash still works; it only misses last form's error.
        let flash = Resource::new(|| (), |_| async { take_flash().await.ok().flatten() });
        let auth = Self {
            signup,
            login,
            logout,
            me,
            flash,
        };
        provide_context(auth);
        auth
    }

    pub fn expect() -> Self {
        expect_context::<Self>()
    }
}
