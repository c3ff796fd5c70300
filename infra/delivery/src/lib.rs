//! Herald's senders, one file per provider: [`smtp`] (lettre) and [`webhook`] (the guarded HTTP
//! client); [`mime`] builds the email both SMTP and Amazon SES send, [`signature`] the webhook
//! signatures. Amazon SES itself lives with the other AWS adapters (`herald-aws`).

pub mod mime;
pub mod signature;
pub mod smtp;
pub mod webhook;

pub use smtp::SmtpSender;
pub use webhook::WebhookSender;
