// Module declarations for files Bun imports as text (migrations, the web client's assets).
declare module "*.sql" {
  const text: string;
  export default text;
}
