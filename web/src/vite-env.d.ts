/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_SWITCHBOARD_URL?: string;
}
