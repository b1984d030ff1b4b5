// The API page: GraphiQL against this service's own /graphql. Log in with the `login` mutation, then
// put `{"Authorization": "Bearer <accessToken>"}` in the headers pane.
const fetcher = GraphiQL.createFetcher({ url: new URL("/graphql", window.location.origin).href });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolbarOpen: true, shouldPersistHeaders: false }),
);
