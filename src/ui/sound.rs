//! A short chime for news the user should not miss while looking away (a new offer). Browsers
//! only let a page make sound once the user has interacted with it; before that, and on the
//! server, it stays silent.

/// Plays a two-note chime of about half a second, if the page has been interacted with.
pub fn chime() {
    #[cfg(feature = "hydrate")]
    if let Err(err) = play() {
        leptos::logging::warn!("no chime: {err:?}");
    }
}

#[cfg(feature = "hydrate")]
fn play() -> Result<(), wasm_bindgen::JsValue> {
    use web_sys::{AudioContext, OscillatorType};

    let window = leptos::prelude::window();
    if !window.navigator().user_activation().has_been_active() {
        return Ok(());
    }
    // One context for the page: browsers cap how many a page may open.
    thread_local! {
        static AUDIO: std::cell::OnceCell<Option<AudioContext>> = const { std::cell::OnceCell::new() };
    }
    let Some(audio) = AUDIO.with(|a| a.get_or_init(|| AudioContext::new().ok()).clone()) else {
        return Ok(());
    };
    // Made before the first interaction, a context starts suspended.
    let _ = audio.resume()?;
    let start = audio.current_time();
    for (i, frequency) in [880.0_f32, 1320.0].into_iter().enumerate() {
        let at = start + 0.18 * i as f64;
        let tone = audio.create_oscillator()?;
        tone.set_type(OscillatorType::Sine);
        tone.frequency().set_value(frequency);
        let gain = audio.create_gain()?;
        // A soft attack and a quick fade, so it is a chime and not a click.
        gain.gain().set_value_at_time(0.0, at)?;
        gain.gain().linear_ramp_to_value_at_time(0.25, at + 0.02)?;
        gain.gain()
            .exponential_ramp_to_value_at_time(0.001, at + 0.3)?;
        tone.connect_with_audio_node(&gain)?;
        gain.connect_with_audio_node(&audio.destination())?;
        tone.start_with_when(at)?;
        tone.stop_with_when(at + 0.32)?;
    }
    Ok(())
}
