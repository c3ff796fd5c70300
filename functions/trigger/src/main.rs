//! The `trigger` Lambda: Knock's HTTP routes behind API Gateway, on DynamoDB and Scheduler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    herald_lambda::run_http().await
}
