// `npm run dev` serves the app on http://localhost:5173 against the API at VITE_SWITCHBOARD_URL
// (default http://127.0.0.1:8000), which allows this origin in the embedded mode
// (CORS_ORIGINS); `vite build` writes the app that `switchboard serve` ships.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../server/web/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
  },
  server: { port: 5173, strictPort: true },
});
