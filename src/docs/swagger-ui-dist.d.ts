// swagger-ui-dist ships no types; Bun imports its files as text (`with { type: "text" }`).
declare module "swagger-ui-dist/*" {
  const text: string;
  export default text;
}
