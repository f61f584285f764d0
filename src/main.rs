use portcullis::cli::{self, CliError, Command};
use portcullis::config::Settings;
use portcullis::startup::Application;

fn main() {
    let (cli, given) = cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), given) {
        Ok(settings) => settings,
        Err(error) => exit(&format!("configuration: {error}")),
    };
    portcullis::telemetry::init(&settings.log_filter);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        offline => cli::run_offline(offline, &settings),
    };
    if let Err(error) = result {
        exit(&error.to_string());
    }
}

fn serve(settings: Settings) -> Result<(), CliError> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        Ok(app.run_until_stopped().await?)
    })
}

fn exit(message: &str) -> ! {
    eprintln!("portcullis: {message}");
    std::process::exit(1)
}
